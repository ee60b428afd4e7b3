"""Webhooks, retention and metrics on real processes (Redis, the worker, the suite's ASR
service, a gateway): a receiver on loopback that answers 500 and then 200 gets the job's end
on the retry, signed; a cancelled job's webhook leaves from the gateway; jobs past a retention
of seconds lose their files and expire; the worker's /metrics counts all of it."""

import json
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx
import pytest

from paneas.services.asr.evaluation import sample_path
from paneas.services.processes import free_port, wait_until
from tests.jobs.conftest import base_jobs_env, finished
from tests.jobs.test_jobs_webhooks import SECRET, verify
from tests.support.metrics import metric_value
from tests.support.webhook_receiver import WebhookReceiver

# 7.2 s: time enough to see a job succeed before it expires.
RETENTION_HOURS = 0.002


@pytest.fixture(scope="module")
def jobs_env(jobs_redis, tmp_path_factory) -> dict[str, str]:
    return {
        **base_jobs_env(jobs_redis, tmp_path_factory),
        "JOBS_WEBHOOK_SECRET": SECRET,
        # The receivers listen on loopback.
        "JOBS_WEBHOOK_ALLOW_PRIVATE": "true",
        "JOBS_WEBHOOK_RETRY_BASE_SECONDS": "0.5",
        "JOBS_RETENTION_HOURS": str(RETENTION_HOURS),
        "JOBS_RETENTION_INTERVAL_SECONDS": "0.5",
        "JOBS_METRICS_PORT": str(free_port()),
        "JOBS_METRICS_INTERVAL_SECONDS": "0.5",
    }


@pytest.fixture(scope="module")
def storage_root(jobs_env) -> Path:
    return Path(unquote(urlparse(jobs_env["JOBS_STORAGE_URL"]).path))


@pytest.fixture(scope="module")
def metrics_url(jobs_env, jobs_worker) -> str:
    return f"http://127.0.0.1:{jobs_env['JOBS_METRICS_PORT']}/metrics"


def submit_with(client: httpx.Client, **form: str) -> dict:
    with sample_path("jfk").open("rb") as audio:
        answer = client.post(
            "/api/v1/jobs",
            files={"file": ("jfk.wav", audio)},
            data={"config": '{"language": "en"}', **form},
        )
    assert answer.status_code == 202, answer.text
    return answer.json()


def test_a_webhook_refused_once_is_delivered_on_a_retry_signed(client, jobs_worker, metrics_url):
    with WebhookReceiver([500, 200]) as receiver:
        job = submit_with(client, webhook_url=receiver.url)
        assert job["webhook"]["state"] == "pending"
        assert finished(client, job["id"])["status"] in ("succeeded", "expired")
        wait_until(
            lambda: (
                client.get(f"/api/v1/jobs/{job['id']}").json()["webhook"]["state"] == "delivered"
            ),
            "the webhook delivered",
            jobs_worker.process,
            timeout=60,
        )
    webhook = client.get(f"/api/v1/jobs/{job['id']}").json()["webhook"]
    assert webhook == {
        "url": receiver.url,
        "state": "delivered",
        "attempts": 2,
        "last_status": 200,
        "last_error": None,
    }
    assert [received.answered for received in receiver.received] == [500, 200]
    for received in receiver.received:
        assert verify(SECRET, received.headers["X-Paneas-Signature"], received.body)
        assert json.loads(received.body) == {
            "id": job["id"],
            "type": "transcription",
            "status": "succeeded",
            "result_url": f"/api/v1/jobs/{job['id']}/result",
            "error": None,
        }
    assert metric_value(metrics_url, "paneas_jobs_webhook_deliveries_total", outcome="retried")
    assert metric_value(metrics_url, "paneas_jobs_webhook_deliveries_total", outcome="delivered")


def test_a_cancelled_job_notifies_from_the_gateway(client, jobs_worker):
    with WebhookReceiver([204]) as receiver:
        job = submit_with(client, webhook_url=receiver.url)
        cancelled = client.delete(f"/api/v1/jobs/{job['id']}")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        wait_until(lambda: receiver.received, "the webhook", jobs_worker.process, timeout=60)
    received = receiver.received[0]
    assert verify(SECRET, received.headers["X-Paneas-Signature"], received.body)
    body = json.loads(received.body)
    assert (body["id"], body["status"], body["result_url"]) == (job["id"], "cancelled", None)


def test_jobs_past_retention_expire_and_lose_their_files(
    client, jobs_worker, storage_root, metrics_url
):
    job = submit_with(client)
    assert finished(client, job["id"])["status"] == "succeeded"
    wait_until(
        lambda: client.get(f"/api/v1/jobs/{job['id']}").json()["status"] == "expired",
        "the job expired",
        jobs_worker.process,
        timeout=60,
    )
    expired = client.get(f"/api/v1/jobs/{job['id']}").json()
    assert expired["result"] is None and expired["finished_at"]
    assert not (storage_root / job["id"]).exists()
    gone = client.get(f"/api/v1/jobs/{job['id']}/result", params={"format": "text"})
    assert gone.status_code == 410 and "expired" in gone.json()["message"]

    # The worker counted the jobs it ended, their audio, and what retention expired.
    assert metric_value(metrics_url, "paneas_jobs_ended_total", status="succeeded") >= 1
    assert metric_value(metrics_url, "paneas_jobs_audio_seconds_total") >= 10.5
    assert metric_value(metrics_url, "paneas_jobs_expired_total") >= 1
    assert metric_value(metrics_url, "paneas_jobs_chunk_seconds_count", type="transcription")
    assert metric_value(metrics_url, "paneas_jobs_queued") == 0
    assert metric_value(metrics_url, "paneas_jobs_oldest_queued_seconds") == 0
