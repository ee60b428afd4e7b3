"""A real redis-server child for tests: own free port, no persistence, can be killed and
restarted on the same port (to test outages)."""

import socket
import subprocess
import time
from pathlib import Path

from paneas.services.processes import free_port, redis_answers, redis_server_argv


class RedisServer:
    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                redis_server_argv(self.port), stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while not redis_answers(self.port, timeout=0.5):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start; see {self.log_path}")
            time.sleep(0.05)

    def kill(self) -> None:
        """Abrupt death, as in an outage (no graceful shutdown)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def flush(self) -> None:
        """Drops every counter, so tests sharing the server start from zero."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall(b"FLUSHALL\r\n")
            sock.recv(64)
