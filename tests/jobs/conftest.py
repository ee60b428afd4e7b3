"""Fixtures of the jobs tests on real processes: Redis, one worker, the suite's ASR service and
a gateway of the module's own with jobs on (module-scoped: each module gets its own). A
module changes where jobs are stored, or how they are retried, by overriding `jobs_env`;
`submit` and `finished` drive a job through the gateway."""

import secrets
import time

import httpx
import pytest

from paneas.gateway.jobs.protocol import FINISHED
from paneas.services.asr.evaluation import sample_path
from paneas.services.processes import ServiceProcess, wait_until
from tests.conftest import start_gateway
from tests.support.redis_server import RedisServer


@pytest.fixture(scope="module")
def jobs_redis(tmp_path_factory):
    redis = RedisServer(tmp_path_factory.mktemp("jobs-redis") / "redis.log")
    yield redis
    redis.kill()


def base_jobs_env(jobs_redis: RedisServer, tmp_path_factory) -> dict[str, str]:
    """Jobs on, with the module's Redis, storage and database in a folder of their own: what
    a module's own `jobs_env` adds its settings to."""
    state = tmp_path_factory.mktemp("jobs-state")
    return {
        "JOBS_ENABLED": "true",
        "JOBS_BROKER_URL": jobs_redis.url,
        "JOBS_STORAGE_URL": (state / "storage").as_uri(),
        "DATABASE_URL": f"sqlite:///{state}/gateway.db",
        "JOBS_PROGRESS_INTERVAL_SECONDS": "0.2",
    }


@pytest.fixture(scope="module")
def jobs_env(jobs_redis, tmp_path_factory) -> dict[str, str]:
    return base_jobs_env(jobs_redis, tmp_path_factory)


def start_jobs_worker(env: dict[str, str], log_folder, new_session: bool = False) -> ServiceProcess:
    """`python -m paneas.gateway.jobs` with `env`, once it takes tasks. `new_session`: its own
    process group (the Celery parent and its pool child), for a test to kill as a whole."""
    worker = ServiceProcess(
        "paneas.gateway.jobs", env, log_folder / "worker.log", new_session=new_session
    )
    wait_until(lambda: " ready." in worker.log_text(), "jobs worker", worker.process, timeout=60)
    return worker


def jobs_worker_env(jobs_env: dict[str, str], asr_target: str, api_token: str) -> dict[str, str]:
    return {**jobs_env, "API_TOKENS": api_token, "GATEWAY_ASR_TARGET": asr_target}


@pytest.fixture(scope="module")
def jobs_worker(jobs_env, asr_service, api_token, tmp_path_factory):
    env = jobs_worker_env(jobs_env, asr_service.target, api_token)
    worker = start_jobs_worker(env, tmp_path_factory.mktemp("jobs-worker"))
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
def other_token() -> str:
    return secrets.token_urlsafe(24)


@pytest.fixture(scope="module")
def jobs_gateway(jobs_env, jobs_worker, asr_service, api_token, other_token, tmp_path_factory):
    running = start_gateway(
        f"{api_token},{other_token}",
        "",
        tmp_path_factory.mktemp("jobs-gateway"),
        GATEWAY_ASR_TARGET=asr_service.target,
        ANALYTICS_ENABLED="false",
        **jobs_env,
    )
    yield running
    running.process.stop()


@pytest.fixture(scope="module")
def client(jobs_gateway, api_token):
    with httpx.Client(
        base_url=jobs_gateway.url, headers={"Authorization": f"Bearer {api_token}"}, timeout=60
    ) as client:
        yield client


def submit(client: httpx.Client, config: str = '{"language": "en"}') -> dict:
    with sample_path("jfk").open("rb") as audio:
        answer = client.post(
            "/api/v1/jobs", files={"file": ("jfk.wav", audio)}, data={"config": config}
        )
    assert answer.status_code == 202, answer.text
    return answer.json()


def finished(client: httpx.Client, job_id: str, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["status"] in FINISHED:
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s")
