"""The real services and gateway a benchmark measures, started on free loopback ports with
their logs under LOGS, and stopped (saying so if one had died) when the measuring ends."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from paneas.services.processes import ServiceProcess, free_port, grpc_serving, http_ok, wait_until

LOGS = Path("/tmp/paneas-bench")
BACKENDS = ("asr", "ocr", "llm", "tts")


def stop(service: ServiceProcess) -> None:
    """Stops it, first saying how it ended if it died while being measured."""
    if service.ended() is not None:
        print("\n".join(service.death_report()), flush=True)
    service.stop()


@contextmanager
def grpc_service(
    name: str, env: dict[str, str], log_name: str = ""
) -> Iterator[tuple[str, ServiceProcess]]:
    """`python -m paneas.services.NAME` on a free port (NAME_PORT), once its health serves;
    yields its target and process."""
    port = free_port()
    env = {f"{name.upper()}_PORT": str(port), "PYTHONFAULTHANDLER": "1", **env}
    LOGS.mkdir(exist_ok=True)
    process = ServiceProcess(
        f"paneas.services.{name}", env, LOGS / f"{log_name or name}-{port}.log"
    )
    try:
        target = f"127.0.0.1:{port}"
        wait_until(lambda: grpc_serving(target), name, process.process, timeout=300)
        yield target, process
    finally:
        stop(process)


@contextmanager
def gateway(
    token: str, targets: dict[str, str], work: Path, extra_env: dict[str, str] | None = None
) -> Iterator[tuple[str, ServiceProcess]]:
    """The gateway in front of `targets` (backend name -> gRPC target) only, rate limiting
    off, analytics in SQLite under `work`; yields its URL and process."""
    port = free_port()
    env = {
        "API_TOKENS": token,
        "GATEWAY_PORT": str(port),
        # Backends not measured are not deployed: no routes.
        **{f"GATEWAY_{name.upper()}_TARGET": targets.get(name, "") for name in BACKENDS},
        "DATABASE_URL": f"sqlite:///{work / 'analytics.db'}",
        "RATE_LIMIT_ENABLED": "false",
        **(extra_env or {}),
    }
    LOGS.mkdir(exist_ok=True)
    label = "-".join(targets)
    process = ServiceProcess("paneas.gateway", env, LOGS / f"gateway-{label}-{port}.log")
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_ok(f"{url}/openapi.json"), "gateway", process.process)
        yield url, process
    finally:
        stop(process)
