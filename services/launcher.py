"""`paneas`: starts every service of the stack, Envoy in front of them and the gateway, waits
until each is healthy, prints where they listen, and stops them all cleanly on Ctrl-C or
SIGTERM.

The embedded topology mirrors the deployments: `ASR_INSTANCES` ASR processes (2 by default,
one per GPU on a GPU box), one LLM, OCR and TTS, and Envoy on 127.0.0.1:9000 routing to them
(consistent hash on `x-session-id` for ASR). The gateway and ASR's insights reach every
service through Envoy, as in compose and Kubernetes. Jobs (`/api/v1/jobs`) are on unless
`JOBS_ENABLED=false`: Redis on loopback (no persistence; unless `JOBS_BROKER_URL` names one),
one jobs worker and the jobs service (`jobs-api`, their gRPC face, behind Envoy).

Every child's output goes through the launcher to its own stdout, unchanged, and the last
`LOG_TAIL_LINES` lines of each are kept. A component that dies, at start or later, is named
with how it ended (`asr-0 exited with signal SIGKILL (code -9)`, `llm exited with code 1`)
and its last lines. Nothing is restarted silently. What happens next:

- Envoy or the gateway (`essential`: nothing is reachable without them): the whole stack
  stops and `paneas` exits 1.
- any other component (a service, one ASR instance): the rest keeps running. The gateway
  answers that service's routes with 503 naming it, `/api/v1/health` shows it, Envoy sends
  new ASR streams to the surviving instances, live ASR goes on without LLM insights. At start
  the banner still comes and marks it DOWN. `paneas` then exits 1 when stopped.
- with `PANEAS_STRICT=1` (CI and scripts): any death stops the whole stack, exit status 1.
"""

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import sys
import tempfile
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlparse

from paneas.gateway.analytics.settings import AnalyticsSettings
from paneas.gateway.jobs.queue import celery_app
from paneas.gateway.jobs.settings import JobsSettings
from paneas.gateway.rate_limit.settings import RateLimitSettings
from paneas.gateway.settings import GatewaySettings
from paneas.services.asr.settings import AsrSettings
from paneas.services.envoy.config import DIRECTORY_HEALTH_SERVICE, Tls, local_target, render_yaml
from paneas.services.envoy.process import command as envoy_command
from paneas.services.envoy.settings import DirectorySettings, EnvoySettings
from paneas.services.jobs.settings import JobServiceSettings
from paneas.services.llm.settings import LlmSettings
from paneas.services.ocr.settings import OcrSettings
from paneas.services.processes import (
    LOG_TAIL_LINES,
    exit_description,
    free_port,
    grpc_serving,
    http_ok,
    redis_answers,
    redis_server_argv,
    tail_report,
)
from paneas.services.runtime.settings import RuntimeSettings
from paneas.services.tts.settings import TtsSettings

STARTUP_TIMEOUT_SECONDS = 600
# How long one component may take to stop before it is killed: the services' grace (30 s),
# or the gateway's live-stream drain (GATEWAY_ASR_STREAM_DRAIN_SECONDS, 10) followed by its
# requests' grace (30), with a margin.
STOP_TIMEOUT_SECONDS = 50
# Longest output line relayed whole (asyncio's stream limit); longer ones are dropped.
OUTPUT_LINE_LIMIT = 1 << 20
# "1" (or true/yes/on): any component that dies stops the whole stack.
STRICT_ENV = "PANEAS_STRICT"
# Shutdown order (`Component.stop_stage`): the gateway first (it stops taking new work and
# finishes its open calls and utterances, which still need everything behind it), then ASR
# (its live streams' closing summaries still ask the LLM), then the other services, and the
# directory and Envoy last, since they relay every call the others are finishing.
STOP_GATEWAY, STOP_ASR, STOP_SERVICES, STOP_INGRESS = range(4)


@dataclass
class Component:
    name: str
    module: str
    endpoint: str
    is_healthy: Callable[[], Awaitable[bool]]
    extra: list[str] = field(default_factory=list)
    python: str = sys.executable
    # Environment of this process only (on top of the stack's).
    env: dict[str, str] = field(default_factory=dict)
    # A program other than `python -m module` (Envoy).
    argv: list[str] | None = None
    # Without it nothing is reachable (Envoy, the gateway): its death stops the stack.
    essential: bool = False
    # When it is stopped, lowest first (see `Stack.stop`).
    stop_stage: int = 2
    process: asyncio.subprocess.Process | None = None
    # The last lines of its output, shown when it dies; the task relaying that output.
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=LOG_TAIL_LINES))
    relay: asyncio.Task | None = None
    # How it ended ("exited with code 1"), once it has and was reported.
    ended: str | None = None
    # Envoy's: whether its health checks pass for the upstreams on these ports, so that the
    # banner comes once clients are routed to every live component, not before.
    routes_to: Callable[[set[int]], Awaitable[bool]] | None = None

    @property
    def down(self) -> bool:
        return self.ended is not None

    @property
    def port(self) -> int:
        return int(self.endpoint.rsplit(":", 1)[1])


def grpc_health_probe(host: str, port: int, service: str = "") -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return await asyncio.to_thread(grpc_serving, f"{host}:{port}", service, timeout=2)

    return probe


def envoy_routing_probe(admin: str) -> Callable[[set[int]], Awaitable[bool]]:
    """Whether Envoy's admin `/clusters` says `healthy` for every upstream host on the
    given ports (hosts on other ports, e.g. a dead component's, do not count)."""

    def fetch() -> str | None:
        try:
            with urllib.request.urlopen(f"{admin}/clusters", timeout=2) as response:
                return response.read().decode()
        except (urllib.error.URLError, OSError):
            return None

    async def routes_to(ports: set[int]) -> bool:
        clusters = await asyncio.to_thread(fetch)
        if clusters is None:
            return False
        flags: dict[int, list[str]] = {}
        for line in clusters.splitlines():
            # cluster::host:port::stat::value
            parts = line.split("::")
            if len(parts) == 4 and parts[2] == "health_flags":
                flags.setdefault(int(parts[1].rsplit(":", 1)[1]), []).append(parts[3])
        return all(flag == "healthy" for port in ports & flags.keys() for flag in flags[port])

    return routes_to


def http_health_probe(url: str) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return await asyncio.to_thread(http_ok, url, timeout=2)

    return probe


def redis_ping_probe(port: int) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return await asyncio.to_thread(redis_answers, port)

    return probe


def celery_ping_probe(jobs: JobsSettings) -> Callable[[], Awaitable[bool]]:
    """Whether a jobs worker answers on the broker (Celery's control ping)."""
    app = celery_app(jobs)

    async def probe() -> bool:
        return bool(await asyncio.to_thread(app.control.ping, timeout=1.0))

    return probe


def jobs_components(env: dict[str, str]) -> list[Component]:
    """Redis on loopback (unless JOBS_BROKER_URL names one) and one jobs worker. Jobs are on
    in the embedded stack unless JOBS_ENABLED=false; `env` gets the broker's URL."""
    jobs = JobsSettings(
        enabled=env.setdefault("JOBS_ENABLED", "true"),
        broker_url=env.get("JOBS_BROKER_URL", ""),
    )
    if not jobs.enabled:
        return []
    components = []
    if not jobs.broker_url:
        if shutil.which("redis-server") is None:
            raise SystemExit(
                "paneas: jobs need redis-server (scripts/setup.sh installs it); or set "
                "JOBS_BROKER_URL to a Redis of yours, or JOBS_ENABLED=false"
            )
        port = jobs.redis_port or free_port()
        env["JOBS_BROKER_URL"] = f"redis://127.0.0.1:{port}/0"
        components.append(
            Component(
                "redis",
                "",
                f"redis://127.0.0.1:{port}",
                redis_ping_probe(port),
                ["jobs queue, in memory only"],
                # Loopback only, and nothing on disk: the job records are the durable part.
                argv=redis_server_argv(port),
                # Stops last: the gateway and the worker finish their calls to it first.
                stop_stage=STOP_INGRESS,
            )
        )
    jobs = jobs.model_copy(update={"broker_url": env["JOBS_BROKER_URL"]})
    broker = urlparse(jobs.broker_url)
    components.append(
        Component(
            "jobs",
            "paneas.gateway.jobs",
            f"{broker.scheme}://{broker.hostname}:{broker.port or 6379}",
            celery_ping_probe(jobs),
            [f"worker, one job at a time; files in {jobs.storage()}"]
            + (
                [f"metrics http://{jobs.metrics_host}:{jobs.metrics_port}/metrics"]
                if jobs.metrics_port
                else []
            ),
        )
    )
    return components


def job_service_component() -> Component:
    """The jobs API's gRPC face, JobService (`python -m paneas.services.jobs`), beside the
    gateway's REST routes: the same database, storage and queue (the stack's environment)."""
    settings = JobServiceSettings()
    return Component(
        "jobs-api",
        "paneas.services.jobs",
        f"grpc://{settings.host}:{settings.port}",
        grpc_health_probe(_connect_host(settings.host), settings.port),
        ["paneas.jobs.v1.JobService, through envoy"] + _metrics_line(settings),
    )


def _metrics_line(settings) -> list[str]:
    if not settings.metrics_port:
        return []
    return [f"metrics http://{settings.host}:{settings.metrics_port}/metrics"]


def _connect_host(host: str) -> str:
    """Where to connect to a listener bound on `host` (all interfaces: loopback)."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def asr_components(asr: AsrSettings) -> list[Component]:
    """One ASR process per instance: port + 10*i, metrics port + 10*i, its device index."""
    components = []
    for index in range(asr.instances):
        port = asr.port + 10 * index
        metrics_port = asr.metrics_port + 10 * index if asr.metrics_port else 0
        device_index = asr.instance_device_index(index)
        extra = [f"model {asr.model} on {asr.device}:{device_index}"]
        if metrics_port:
            extra.append(f"metrics http://{asr.host}:{metrics_port}/metrics")
        components.append(
            Component(
                f"asr-{index}",
                "paneas.services.asr",
                f"grpc://{asr.host}:{port}",
                grpc_health_probe(_connect_host(asr.host), port),
                extra,
                env={
                    "ASR_PORT": str(port),
                    "ASR_METRICS_PORT": str(metrics_port),
                    "ASR_DEVICE_INDEX": str(device_index),
                    "ASR_INSTANCE": f"asr-{index}",
                },
                stop_stage=STOP_ASR,
            )
        )
    return components


def directory_component(directory: DirectorySettings, envoy: EnvoySettings) -> Component:
    """The directory beside Envoy: health and reflection of the whole mesh on the ingress."""
    admin = f"http://{_connect_host(envoy.admin_host)}:{envoy.admin_port}"
    return Component(
        "directory",
        "paneas.services.envoy.directory",
        f"grpc://{directory.host}:{directory.port}",
        # Its own readiness: "" is the whole mesh's, which needs every service up.
        grpc_health_probe(_connect_host(directory.host), directory.port, DIRECTORY_HEALTH_SERVICE),
        ["health and reflection of every service through envoy"],
        env={"DIRECTORY_ENVOY_ADMIN": admin},
        stop_stage=STOP_INGRESS,
    )


def envoy_component(
    envoy: EnvoySettings,
    asr: AsrSettings,
    gateway: GatewaySettings,
    ports: dict[str, int],
    host: str,
    workdir: Path,
    directory: DirectorySettings,
) -> Component:
    """Envoy on a config rendered for this stack's ports (target `local`), capping each call
    at this stack's own deadlines: the gateway's per service, ASR's longest live stream."""
    tls = Tls(envoy.tls_cert, envoy.tls_key) if envoy.tls_cert and envoy.tls_key else None
    target = local_target(
        [asr.port + 10 * i for i in range(asr.instances)],
        ports,
        listen_port=envoy.port,
        admin_port=envoy.admin_port,
        lb_policy=envoy.lb_policy,
        host=host,
        tls=tls,
    )
    target = replace(
        target,
        listen_address=envoy.host,
        admin_address=envoy.admin_host,
        directory=(_connect_host(directory.host), directory.port),
        max_call_seconds={name: gateway.timeout_for(name) for name in target.max_call_seconds},
        max_stream_seconds=asr.max_stream_seconds,
    )
    if "jobs" not in ports:  # jobs are off
        target = replace(
            target, upstreams={k: v for k, v in target.upstreams.items() if k != "jobs"}
        )
    config = workdir / "envoy.yaml"
    config.write_text(render_yaml(target))
    admin = f"http://{_connect_host(envoy.admin_host)}:{envoy.admin_port}"
    routes = f"asr x{asr.instances} ({envoy.lb_policy} on x-session-id), llm, ocr, tts"
    routes += ", jobs" if "jobs" in ports else ""
    return Component(
        "envoy",
        "",
        f"grpc{'s' if tls else ''}://{envoy.host}:{envoy.port}",
        http_health_probe(f"{admin}/ready"),
        [routes, f"admin {admin}/stats/prometheus", f"config {config}"],
        argv=envoy_command(config),
        essential=True,
        routes_to=envoy_routing_probe(admin),
        stop_stage=STOP_INGRESS,
    )


def stack_components(env: dict[str, str], workdir: Path | None = None) -> list[Component]:
    """The processes of the stack; fills in `env` so each finds the others (via Envoy)."""
    ocr, asr, llm, tts = OcrSettings(), AsrSettings(), LlmSettings(), TtsSettings()
    envoy, directory = EnvoySettings(), DirectorySettings()
    ingress = f"{_connect_host(envoy.host)}:{envoy.port}"
    for name in ("OCR", "ASR", "LLM", "TTS"):
        env.setdefault(f"GATEWAY_{name}_TARGET", ingress)
    # Live transcription asks the LLM for insights, through Envoy too.
    env.setdefault("ASR_LLM_TARGET", ingress)
    gateway = GatewaySettings()
    # Read here, not only by the gateway, so that a placeholder or short secret (the ticket
    # secret, the Redis and PostgreSQL passwords) stops `paneas` before anything starts.
    RateLimitSettings(), AnalyticsSettings()
    gateway_url = f"http://{gateway.host}:{gateway.port}"
    workdir = workdir or Path(tempfile.mkdtemp(prefix="paneas-"))
    ports = {"ocr": ocr.port, "llm": llm.port, "tts": tts.port}
    jobs = jobs_components(env)
    if jobs:
        jobs.append(job_service_component())
        ports["jobs"] = JobServiceSettings().port
    return [
        *jobs,
        Component(
            "ocr",
            "paneas.services.ocr",
            f"grpc://{ocr.host}:{ocr.port}",
            grpc_health_probe(_connect_host(ocr.host), ocr.port),
            _metrics_line(ocr),
        ),
        *asr_components(asr),
        Component(
            "llm",
            "paneas.services.llm",
            f"grpc://{llm.host}:{llm.port}",
            grpc_health_probe(_connect_host(llm.host), llm.port),
            [f"models from {llm.catalogue}"] + _metrics_line(llm),
            # vLLM cannot share this venv (its pins conflict with the gateway's):
            # scripts/setup-vllm.sh builds one the LLM service runs from.
            python=env.get("PANEAS_LLM_PYTHON") or sys.executable,
        ),
        Component(
            "tts",
            "paneas.services.tts",
            f"grpc://{tts.host}:{tts.port}",
            grpc_health_probe(_connect_host(tts.host), tts.port),
            [f"engines {','.join(tts.engines)}"] + _metrics_line(tts),
        ),
        directory_component(directory, envoy),
        envoy_component(envoy, asr, gateway, ports, _connect_host(asr.host), workdir, directory),
        Component(
            "gateway",
            "paneas.gateway",
            gateway_url,
            # /metrics, not /api/v1/health: that one is 503 while any service is down, and the
            # gateway must come up (answering 503 for that service) when one failed.
            http_health_probe(f"{gateway_url}/metrics"),
            [f"API docs {gateway_url}/docs"],
            essential=True,
            stop_stage=STOP_GATEWAY,
        ),
    ]


async def relay_output(component: Component) -> None:
    """The child's output to ours, line by line (lines of different children never mix),
    keeping its last lines for when it dies."""
    assert component.process is not None and component.process.stdout is not None
    stream = component.process.stdout
    while True:
        try:
            line = await stream.readline()
        except ValueError:  # longer than OUTPUT_LINE_LIMIT: asyncio dropped it
            line = f"[a line over {OUTPUT_LINE_LIMIT} bytes was dropped]\n".encode()
        if not line:
            return
        text = line.decode(errors="replace")
        component.tail.append(text.rstrip("\n"))
        with contextlib.suppress(OSError, ValueError):  # our own stdout closed: keep the tail
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
            sys.stdout.flush()


async def _exited(process: asyncio.subprocess.Process, within_seconds: float) -> bool:
    """Whether the process ended within `within_seconds`. Polls the exit status, because
    `process.wait()` also waits for the output pipe, which a grandchild may hold open."""
    deadline = asyncio.get_running_loop().time() + within_seconds
    while process.returncode is None:
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


class Stack:
    def __init__(self, components: list[Component], env: dict[str, str], strict: bool) -> None:
        self.components = components
        self.env = env
        self.strict = strict

    async def start(self) -> None:
        for component in self.components:
            # Own session: Ctrl-C reaches only the launcher, which stops children in order.
            argv = component.argv or [component.python, "-m", component.module]
            component.process = await asyncio.create_subprocess_exec(
                *argv,
                env={**self.env, **component.env},
                start_new_session=True,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                limit=OUTPUT_LINE_LIMIT,
            )
            component.relay = asyncio.create_task(
                relay_output(component), name=f"relay-{component.name}"
            )

    @property
    def down(self) -> list[Component]:
        return [c for c in self.components if c.down]

    async def report_deaths(self) -> bool:
        """Names each component that died since the last call, how, and its last lines.
        True when the stack must stop: an essential one died, or any one under strict."""
        must_stop = False
        for component in self.components:
            process = component.process
            if component.down or process is None or process.returncode is None:
                continue
            component.ended = exit_description(process.returncode)
            fatal = component.essential or self.strict
            if component.essential:
                consequence = "stopping the stack (nothing is reachable without it)"
            elif self.strict:
                consequence = f"stopping the stack ({STRICT_ENV}=1)"
            else:
                consequence = (
                    "the rest keeps running without it; nothing is restarted (fix the cause "
                    f"and restart paneas; {STRICT_ENV}=1 stops everything instead)"
                )
            # Let the relay take the last words it wrote before dying.
            if component.relay is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(component.relay), 2)
            print(f"paneas: {component.name} {component.ended}; {consequence}", flush=True)
            print_tail(component)
            must_stop |= fatal
        return must_stop

    async def wait_healthy(self, stop: asyncio.Event) -> bool:
        """Until every component still running is healthy; False when the stack must stop
        (see `report_deaths`), on timeout, or on Ctrl-C."""
        pending = list(self.components)
        deadline = asyncio.get_running_loop().time() + STARTUP_TIMEOUT_SECONDS
        while pending and not stop.is_set():
            if await self.report_deaths():
                return False
            pending = [c for c in pending if not c.down]
            if asyncio.get_running_loop().time() > deadline:
                names = ", ".join(c.name for c in pending)
                print(f"paneas: not healthy after {STARTUP_TIMEOUT_SECONDS}s: {names}")
                for component in pending:
                    print_tail(component)
                return False
            pending = [c for c in pending if not await c.is_healthy()]
            if pending:
                await asyncio.sleep(0.5)
        while not stop.is_set():
            if await self.report_deaths():
                return False
            live = [c for c in self.components if not c.down]
            if asyncio.get_running_loop().time() > deadline:
                print(
                    f"paneas: Envoy routes not to every component after {STARTUP_TIMEOUT_SECONDS}s"
                )
                return False
            ports = {c.port for c in live}
            if all([await c.routes_to(ports) for c in live if c.routes_to is not None]):
                return True
            await asyncio.sleep(0.5)
        return False

    async def stop(self) -> None:
        """SIGTERM stage by stage (`stop_stage`): each stage drains while everything it
        relies on still runs, and the next starts once it has exited (or was killed after
        STOP_TIMEOUT_SECONDS)."""
        for stage in sorted({c.stop_stage for c in self.components}):
            running = [
                c
                for c in self.components
                if c.stop_stage == stage and c.process and c.process.returncode is None
            ]
            for component in running:
                component.process.send_signal(signal.SIGTERM)
            for component in running:
                if not await _exited(component.process, STOP_TIMEOUT_SECONDS):
                    print(f"paneas: {component.name} did not stop in time; killing it")
                    component.process.kill()
                    await _exited(component.process, STOP_TIMEOUT_SECONDS)
        # Whatever they wrote while stopping is out; a grandchild holding a pipe is not waited for.
        relays = [c.relay for c in self.components if c.relay is not None]
        if relays:
            _, unfinished = await asyncio.wait(relays, timeout=2)
            for relay in unfinished:
                relay.cancel()


def print_tail(component: Component) -> None:
    report = tail_report(component.name, component.tail)
    print(f"paneas: {report[0]}")
    for line in report[1:]:
        print(line)
    sys.stdout.flush()


def resolve_token(env: dict[str, str]) -> tuple[str, bool]:
    tokens = RuntimeSettings().api_tokens
    if tokens:
        return tokens[0], False
    token = secrets.token_urlsafe(32)
    env["API_TOKENS"] = token
    return token, True


def print_banner(components: list[Component], token: str, generated: bool) -> None:
    down = [c.name for c in components if c.down]
    without = f", without {', '.join(down)}" if down else ""
    print(f"\nPaneas Stack is up{without}:")
    for component in components:
        details = "".join(f"   [{item}]" for item in component.extra)
        if component.down:
            details = f"   DOWN: {component.ended} (its last lines are above)"
        elif component.process is not None:
            details = f"   [pid {component.process.pid}]{details}"
        print(f"  {component.name:<9} {component.endpoint}{details}")
    # A configured token is never printed (terminals and CI logs are kept and shared); a
    # generated one must be, once, or nobody could use the stack.
    if generated:
        print(f"  token     {token}   (generated for this run, shown once)")
        print("Send it as 'Authorization: Bearer <token>'. Press Ctrl-C to stop.\n", flush=True)
    else:
        print("  token     from API_TOKENS (not shown)")
        print("Send one as 'Authorization: Bearer <token>'. Press Ctrl-C to stop.\n", flush=True)


def strict_from(env: dict[str, str]) -> bool:
    return env.get(STRICT_ENV, "").strip().lower() in ("1", "true", "yes", "on")


async def run() -> int:
    env = dict(os.environ)
    # People at a terminal read console logs; pipes and files get JSON lines.
    env.setdefault("LOG_FORMAT", "console" if sys.stdout.isatty() else "json")
    # Children write into a pipe (relayed by us): without this, Python would hold their
    # prints back in its buffer.
    env.setdefault("PYTHONUNBUFFERED", "1")
    token, generated = resolve_token(env)
    stack = Stack(stack_components(env), env, strict_from(env))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stack.start()
    try:
        if not await stack.wait_healthy(stop):
            return 0 if stop.is_set() and not stack.down else 1
        print_banner(stack.components, token, generated)
        while not stop.is_set():
            if await stack.report_deaths():
                return 1
            await asyncio.sleep(0.5)
        # Stopped by Ctrl-C or SIGTERM: 1 still says that a part had failed on the way.
        return 1 if stack.down else 0
    finally:
        print("paneas: stopping ...", flush=True)
        await stack.stop()
        print("paneas: stopped", flush=True)


def main() -> None:
    sys.exit(asyncio.run(run()))


if __name__ == "__main__":
    main()
