"""The commands compose runs for the jobs, run here on real processes: the worker's health
check answers for the worker it runs beside (and not for another), and Flower starts on the
queue it is given in its environment (never on its command line)."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from paneas.services.processes import LoggedProcess, free_port, http_ok, wait_until
from tests.deploy.support import DEPLOY
from tests.jobs.conftest import start_jobs_worker

pytestmark = pytest.mark.slow

SERVICES = yaml.safe_load((DEPLOY / "compose" / "docker-compose.yml").read_text())["services"]
VENV_BIN = str(Path(sys.executable).parent)


@pytest.fixture(scope="module")
def broker_url(jobs_redis) -> str:
    # Compose's queue is database 1 of the stack's Redis.
    return jobs_redis.url.rsplit("/", 1)[0] + "/1"


def test_the_workers_health_check_pings_its_own_worker(broker_url, tmp_path):
    command = SERVICES["jobs-worker"]["command"]
    assert command[:3] == ["python", "-m", "paneas.gateway.jobs"]
    env = {
        "JOBS_ENABLED": "true",
        "JOBS_BROKER_URL": broker_url,
        "JOBS_STORAGE_URL": (tmp_path / "storage").as_uri(),
        "DATABASE_URL": f"sqlite:///{tmp_path}/gateway.db",
        "JOBS_METRICS_PORT": "0",
    }
    worker = start_jobs_worker(env, tmp_path)
    kind, check = SERVICES["jobs-worker"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    # Compose writes `$$` for a `$` the container's shell expands.
    script = check.replace("$$", "$")
    shell_env = {"PATH": f"{VENV_BIN}:{os.environ['PATH']}", "JOBS_BROKER_URL": broker_url}
    try:
        healthy = subprocess.run(
            ["sh", "-c", script],
            env={**shell_env, "HOSTNAME": socket.gethostname()},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert healthy.returncode == 0, healthy.stdout + healthy.stderr
        assert "pong" in healthy.stdout
        elsewhere = subprocess.run(
            ["sh", "-c", script],
            env={**shell_env, "HOSTNAME": "another-container"},
            capture_output=True,
            timeout=60,
        )
        assert elsewhere.returncode != 0
    finally:
        worker.stop()


def test_flower_serves_the_queue_from_its_environment(broker_url, tmp_path):
    flower = SERVICES["flower"]
    command = flower["command"]
    assert command[:4] == ["python", "-m", "celery", "flower"]
    assert "BROKER_URL" in flower["environment"]
    # The container's listener (0.0.0.0:5555) becomes a free loopback port here.
    port = free_port()
    args = [arg for arg in command[2:] if not arg.startswith(("--address", "--port"))]
    server = LoggedProcess(
        "flower",
        [sys.executable, "-m", *args, "--address=127.0.0.1", f"--port={port}"],
        {"PATH": os.environ["PATH"], "BROKER_URL": broker_url},
        tmp_path / "flower.log",
    )
    try:
        wait_until(
            lambda: http_ok(f"http://127.0.0.1:{port}/healthcheck"),
            "flower",
            server.process,
            timeout=60,
        )
        wait_until(
            lambda: "Connected to redis://" in server.log_text(),
            "flower on the queue",
            server.process,
            timeout=30,
        )
        # Its log masks the password; the queue is the one it was given.
        assert broker_url.rsplit("//", 1)[1] in server.log_text()
    finally:
        server.stop()
