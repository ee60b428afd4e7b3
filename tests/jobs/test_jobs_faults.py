"""Faults of the queue on real processes (gateway/jobs/queue.py, recovery.py): Redis down for
30 s (creation answers 503 at once with a retry hint, leaves nothing behind, and the jobs
accepted before complete with the same worker once Redis is back, although Redis kept none of
its data), and the whole worker killed (the Celery parent and its pool child) while one job
runs and another waits: a new worker completes both, without waiting for the 12 h visibility
timeout. Undecodable uploads fail the job with the synchronous route's words."""

import os
import signal
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

from paneas.services.asr.evaluation import SAMPLES, sample_path, wer
from paneas.services.processes import wait_until
from tests.jobs.conftest import base_jobs_env, finished, jobs_worker_env, start_jobs_worker, submit
from tests.support.audio import encode_audio, load_float32_16k

JFK = SAMPLES["jfk"].transcript


@pytest.fixture(scope="module")
def jobs_env(jobs_redis, tmp_path_factory) -> dict[str, str]:
    return {
        **base_jobs_env(jobs_redis, tmp_path_factory),
        # A dead worker's job is given to another after three missed beats: 3 s here.
        "JOBS_WORKER_HEARTBEAT_SECONDS": "1",
    }


@pytest.fixture(scope="module")
def worker_env(jobs_env, asr_service, api_token) -> dict[str, str]:
    return jobs_worker_env(jobs_env, asr_service.target, api_token)


@pytest.fixture(scope="module")
def workers(worker_env, tmp_path_factory):
    """The workers started so far, the last one the live one; each in its own process group."""
    started = [start_jobs_worker(worker_env, tmp_path_factory.mktemp("worker"), new_session=True)]
    yield started
    for worker in started:
        worker.stop()


@pytest.fixture(scope="module")
def jobs_worker(workers):
    return workers[0]


def submit_audio(client, audio: bytes, filename: str = "long.wav") -> dict:
    answer = client.post(
        "/api/v1/jobs", files={"file": (filename, audio)}, data={"config": '{"language": "en"}'}
    )
    assert answer.status_code == 202, answer.text
    return answer.json()


def long_recording() -> bytes:
    """Half a minute of speech: long enough to be caught running."""
    return encode_audio(np.tile(load_float32_16k(sample_path("jfk")), 3), "wav")


def wait_running(client, job_id: str, worker) -> None:
    wait_until(
        lambda: client.get(f"/api/v1/jobs/{job_id}").json()["status"] == "running",
        "the job running",
        worker.process,
        timeout=120,
    )


def stored_jobs(jobs_env: dict[str, str]) -> set[str]:
    root = Path(urlparse(jobs_env["JOBS_STORAGE_URL"]).path)
    return {path.name for path in root.iterdir()} if root.exists() else set()


def assert_jfk_three_times(job: dict) -> None:
    assert job["status"] == "succeeded", job
    assert wer(" ".join([JFK] * 3), job["result"]["text"]) < 0.15, job["result"]["text"]


def test_redis_down_refuses_new_jobs_at_once_and_loses_none(client, jobs_redis, workers, jobs_env):
    worker = workers[-1]
    # The worker busy with one job, a second waiting in Redis behind it.
    running = submit_audio(client, long_recording())
    wait_running(client, running["id"], worker)
    queued = submit(client)
    listed_before = {job["id"] for job in client.get("/api/v1/jobs?limit=100").json()["data"]}
    stored_before = stored_jobs(jobs_env)

    jobs_redis.kill()
    outage = time.monotonic()
    started = time.monotonic()
    with sample_path("jfk").open("rb") as audio:
        refused = client.post("/api/v1/jobs", files={"file": ("jfk.wav", audio)})
    assert time.monotonic() - started < 5, "the POST waited on the dead broker"
    assert refused.status_code == 503, refused.text
    assert int(refused.headers["Retry-After"]) > 0
    assert "the jobs queue is unavailable, try again" in refused.json()["message"]
    # The refused job left neither a record nor a file.
    listed = {job["id"] for job in client.get("/api/v1/jobs?limit=100").json()["data"]}
    assert listed == listed_before
    assert stored_jobs(jobs_env) == stored_before

    time.sleep(max(30 - (time.monotonic() - outage), 0))
    # Back on the same port, empty: the queued job's message went with the old one.
    jobs_redis.start()
    after = submit(client)
    for job_id in (running["id"], queued["id"], after["id"]):
        job = finished(client, job_id, timeout=300)
        assert job["status"] == "succeeded", job
    assert_jfk_three_times(client.get(f"/api/v1/jobs/{running['id']}").json())
    # The same worker all along: it reconnected by itself.
    assert worker.process.poll() is None and workers[-1] is worker
    assert "queued jobs sent again to a new or emptied broker" in worker.log_text()


def test_a_killed_worker_s_running_and_queued_jobs_complete_on_the_next(
    client, workers, worker_env, tmp_path_factory
):
    old = workers[-1]
    running = submit_audio(client, long_recording())
    wait_running(client, running["id"], old)
    queued = submit(client)
    # The whole worker dies at once, as when its node or the stack is stopped hard.
    os.killpg(old.process.pid, signal.SIGKILL)
    old.process.wait()
    assert client.get(f"/api/v1/jobs/{running['id']}").json()["status"] == "running"

    new = start_jobs_worker(worker_env, tmp_path_factory.mktemp("worker"), new_session=True)
    workers.append(new)
    started = time.monotonic()
    first = finished(client, running["id"], timeout=300)
    second = finished(client, queued["id"], timeout=300)
    # Long before the 12 h visibility timeout would have given the running job back.
    assert time.monotonic() - started < 300
    assert_jfk_three_times(first)
    assert second["status"] == "succeeded" and wer(JFK, second["result"]["text"]) < 0.1
    assert "abandoned job queued again" in new.log_text() and running["id"] in new.log_text()


def test_an_undecodable_upload_fails_with_the_synchronous_route_s_words(client):
    not_audio = b"this is a text file, not a recording\n" * 20
    job = finished(client, submit_audio(client, not_audio, "notes.wav")["id"])
    assert job["status"] == "failed", job
    sync = client.post(
        "/v1/audio/transcriptions",
        files={"file": ("notes.wav", not_audio)},
        data={"model": "whisper-1"},
    )
    assert sync.status_code == 400, sync.text
    assert job["error"] == {"code": "invalid_argument", "message": sync.json()["error"]["message"]}


def test_an_empty_upload_is_refused_with_the_synchronous_route_s_words(client):
    job = client.post("/api/v1/jobs", files={"file": ("empty.wav", b"")})
    sync = client.post(
        "/v1/audio/transcriptions", files={"file": ("empty.wav", b"")}, data={"model": "whisper-1"}
    )
    assert job.status_code == sync.status_code == 400
    assert job.json()["message"] == sync.json()["error"]["message"]
