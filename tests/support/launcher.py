"""`paneas` (the launcher) as a subprocess for tests: every component on a free port, its
output (the launcher's own and every child's, relayed) in a file to read."""

import os
import re
import signal
import sys
import time
from pathlib import Path

from paneas.services.processes import LoggedProcess, free_port


def launcher_env(**overrides: str) -> dict[str, str]:
    """The environment of a small, quick stack on free ports. ASR runs its two default
    instances on ASR_PORT and ASR_PORT + 10 (the next ten ports must be free too, which a
    free port from the kernel's ephemeral range practically always leaves)."""
    env = {
        **os.environ,
        "OCR_PORT": str(free_port()),
        "OCR_METRICS_PORT": str(free_port()),
        "OCR_ENGINES": "tesseract",
        "ASR_PORT": str(free_port()),
        "ASR_METRICS_PORT": str(free_port()),
        "ASR_WARMUP": "false",
        "ASR_CPU_THREADS": "1",
        "ENVOY_PORT": str(free_port()),
        "ENVOY_ADMIN_PORT": str(free_port()),
        "DIRECTORY_PORT": str(free_port()),
        "LLM_PORT": str(free_port()),
        "LLM_METRICS_PORT": str(free_port()),
        "LLM_WARMUP": "false",
        "TTS_PORT": str(free_port()),
        "TTS_METRICS_PORT": str(free_port()),
        "TTS_WARMUP": "false",
        "GATEWAY_PORT": str(free_port()),
        "JOBS_GRPC_PORT": str(free_port()),
        "JOBS_GRPC_METRICS_PORT": str(free_port()),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("PANEAS_STRICT", None)
    return env | overrides


class Launcher(LoggedProcess):
    """One `python -m paneas.services.launcher` run, its output in `log_path`."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        super().__init__(
            "paneas", [sys.executable, "-m", "paneas.services.launcher"], env, log_path
        )

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.env['GATEWAY_PORT']}"

    def wait_for_output(self, text: str, timeout: float = 240) -> str:
        """The output once it contains `text`; fails with the output if the launcher ends
        first or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while text not in (output := self.log_text()):
            assert self.process.poll() is None, (
                f"the launcher exited with {self.process.returncode} before {text!r}:\n{output}"
            )
            assert time.monotonic() < deadline, f"no {text!r} after {timeout}s:\n{output}"
            time.sleep(0.3)
        return output

    def pid_of(self, component: str) -> int:
        """The process id the banner gives for a component."""
        banner = self.wait_for_output("Press Ctrl-C")
        match = re.search(rf"^  {re.escape(component)} +\S+ +\[pid (\d+)\]", banner, re.MULTILINE)
        assert match, f"no pid for {component} in the banner:\n{banner}"
        return int(match.group(1))

    def stop(self, timeout: float = 90) -> int:
        """Ctrl-C, as a person would (not `LoggedProcess.stop`'s SIGTERM); the exit status,
        or TimeoutExpired (it is killed) when it does not stop within `timeout`."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGINT)
            return self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self._log.close()
