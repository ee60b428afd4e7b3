"""The stack's processes: starting one with its environment and its output in a log file,
knowing when it serves (gRPC health, HTTP), stopping it gracefully (SIGTERM, then SIGKILL
after a timeout), and saying how it ended (exit code or signal, its last lines).

`paneas` (services/launcher.py), the tests and the benchmarks all do these things this way.
The launcher drives its children with asyncio (it relays their output as it comes) and takes
the checks and the reporting from here; the tests and benchmarks use `LoggedProcess`.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

# Lines of a process's output shown when it dies.
LOG_TAIL_LINES = 30


def redis_server_argv(port: int) -> list[str]:
    """A redis-server on loopback with nothing on disk (the jobs queue of the embedded stack,
    the tests' limiter store): what it holds is either rebuilt or kept elsewhere."""
    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    return [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]


def redis_answers(port: int, timeout: float = 2) -> bool:
    """Whether the redis-server on this loopback port answers PING."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def free_port() -> int:
    """A loopback port free now (the kernel's choice), for a child to bind."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def grpc_serving(target: str, service: str = "", timeout: float = 1) -> bool:
    """Whether standard gRPC health at `target` says SERVING for `service` ("" the server)."""
    with grpc.insecure_channel(target) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def http_ok(url: str, timeout: float = 1) -> bool:
    """Whether GET `url` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except OSError:  # refused, reset, timed out, or an HTTP error status
        return False


def exit_description(returncode: int) -> str:
    """'exited with code 1', or 'exited with signal SIGKILL (code -9)' for a signal."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"exited with signal {name} (code {returncode})"
    return f"exited with code {returncode}"


def tail_report(name: str, lines: Iterable[str]) -> list[str]:
    """A process's last lines as they are shown when it dies, each prefixed with its name."""
    lines = list(lines)
    if not lines:
        return [f"{name} wrote nothing"]
    return [f"last {len(lines)} lines of {name}:", *(f"  {name} | {line}" for line in lines)]


def wait_until(
    check: Callable[[], bool], what: str, process: subprocess.Popen, timeout: float = 180
) -> None:
    """Until `check()` is true; fails at once if `process` ends, or after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what}: process {exit_description(process.returncode)}")
        if check():
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what} not ready after {timeout}s")


def stop_process(
    process: subprocess.Popen, timeout: float, stop_signal: signal.Signals = signal.SIGTERM
) -> int:
    """`stop_signal` (SIGTERM: a service drains its calls), SIGKILL if it has not ended after
    `timeout` seconds; its exit status."""
    if process.poll() is None:
        process.send_signal(stop_signal)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


class LoggedProcess:
    """A child process run with exactly the environment `env`, its output (stdout and stderr)
    in the file `log_path` to inspect."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        log_path: Path,
        *,
        new_session: bool = False,
    ) -> None:
        self.name = name
        self.log_path = log_path
        self._log = log_path.open("wb")
        # `new_session`: no signal meant for our process group (a terminal's Ctrl-C) reaches it.
        self.process = subprocess.Popen(
            argv,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=new_session,
        )

    def log_text(self) -> str:
        """Its output so far; also once stopped. (The child writes through its own copy of
        the descriptor, so there is nothing of ours to flush first.)"""
        return self.log_path.read_text(errors="replace")

    def ended(self) -> str | None:
        """How it ended ('exited with code 1'), or None while it runs."""
        returncode = self.process.poll()
        return None if returncode is None else exit_description(returncode)

    def death_report(self) -> list[str]:
        """How it ended and its last lines, as the launcher reports a component that died."""
        lines = self.log_text().splitlines()[-LOG_TAIL_LINES:]
        return [
            f"{self.name} (pid {self.process.pid}) {self.ended()}; its log is {self.log_path}",
            *tail_report(self.name, lines),
        ]

    def stop(self, timeout: float = 30) -> int:
        """Gracefully (see `stop_process`); the exit status."""
        returncode = stop_process(self.process, timeout)
        self._log.close()
        return returncode


class ServiceProcess(LoggedProcess):
    """`python -m MODULE` (a service, the gateway) with the environment of this process plus
    `env`."""

    def __init__(
        self,
        module: str,
        env: dict[str, str],
        log_path: Path,
        args: list[str] | None = None,
        *,
        new_session: bool = False,
    ) -> None:
        super().__init__(
            module,
            [sys.executable, "-m", module, *(args or [])],
            {**os.environ, **env},
            log_path,
            new_session=new_session,
        )
        self.module = module
