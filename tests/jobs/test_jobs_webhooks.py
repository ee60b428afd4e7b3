"""Webhooks, retention and the queue's gauges in process: signatures, the SSRF checks on
address literals and `localhost` (no DNS), the retry schedule, delivery to a real HTTP
receiver on loopback, retention's sweep over a real SQLite database and file storage, and
the API's answers. The worker's side end to end is in test_jobs_webhooks_worker.py."""

import asyncio
import hashlib
import hmac
import ipaddress
import json
import re
import time
import uuid
from datetime import timedelta
from types import SimpleNamespace

import asyncpg
import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import delete

from paneas.gateway.analytics.database import open_engine
from paneas.gateway.app import create_app
from paneas.gateway.jobs import metrics, retention, webhooks
from paneas.gateway.jobs.models import jobs
from paneas.gateway.jobs.settings import JobsSettings
from paneas.gateway.jobs.storage import FileStorage, input_key, one_chunk, result_key
from paneas.gateway.jobs.store import JobStore, now, upgrade_schema
from paneas.gateway.settings import GatewaySettings
from paneas.services.runtime.settings import InsecureSecret, RuntimeSettings
from tests.support.postgres_server import postgres_fixture  # noqa: F401 (the fixture)
from tests.support.webhook_receiver import WebhookReceiver

SECRET = "whsec-" + "0123456789abcdef" * 2
OWNER = "jobs-owner-token-0123456789"


def verify(secret: str, header: str, body: bytes, tolerance_seconds: int = 300) -> bool:
    """The receivers' recipe in docs/operations.md, as written there."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    timestamp = int(fields["t"])
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    fresh = abs(time.time() - timestamp) <= tolerance_seconds
    return fresh and hmac.compare_digest(expected.hexdigest(), fields["v1"])


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body():
    body = b'{"id":"j","status":"succeeded"}'
    header = webhooks.signature(SECRET, 1700000000, body)
    mac = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={mac}"

    fresh = webhooks.signature(SECRET, int(time.time()), body)
    assert verify(SECRET, fresh, body)
    assert not verify(SECRET, fresh, body + b" ")
    assert not verify("another-secret-0123456789", fresh, body)
    assert not verify(SECRET, header, body)  # too old: a replay


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1/hook", "loopback"),
        ("http://10.0.0.1/hook", "private"),
        ("https://192.168.1.20:8443/hook", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[::1]:9000/hook", "loopback"),
        ("http://[fe80::1]/hook", "link-local"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),
        ("http://0.0.0.0/hook", "unspecified"),
        ("http://224.0.0.1/hook", "multicast"),
        ("http://240.0.0.1/hook", "reserved"),
        ("http://100.64.0.1/hook", "non-global"),
        ("http://localhost:8080/hook", "loopback"),
    ],
)
async def test_non_public_targets_are_refused(url, kind):
    with pytest.raises(webhooks.WebhookRefused, match=f"a {kind} address") as refused:
        await webhooks.check_target(url, allow_private=False)
    assert "JOBS_WEBHOOK_ALLOW_PRIVATE=true" in str(refused.value)
    allowed = await webhooks.check_target(url, allow_private=True)
    assert allowed.addresses


async def test_localhost_is_checked_on_every_address_it_resolves_to():
    target = await webhooks.check_target("http://localhost:8080/hook", allow_private=True)
    assert all(webhooks.address_problem(address) == "loopback" for address in target.addresses)
    assert target.host == "localhost" and target.port == 8080


async def test_public_literals_pass():
    v4 = await webhooks.check_target("https://8.8.8.8/hook", allow_private=False)
    assert (v4.scheme, v4.port, [str(a) for a in v4.addresses]) == ("https", 443, ["8.8.8.8"])
    v6 = await webhooks.check_target("http://[2606:4700:4700::1111]:81/", allow_private=False)
    assert v6.port == 81 and str(v6.addresses[0]) == "2606:4700:4700::1111"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/hook", "is not an http(s) URL"),
        ("http://", "is not an http(s) URL"),
        ("example.com/hook", "is not an http(s) URL"),
        ("http://example.com:99999/", "is not a valid URL"),
        ("https://user:pw@example.com/", "credentials in the URL are not supported"),
    ],
)
async def test_malformed_urls_are_refused(url, message):
    with pytest.raises(webhooks.WebhookRefused, match=re.escape(message)):
        await webhooks.check_target(url, allow_private=True)


async def test_a_host_that_does_not_resolve_is_unresolved():
    with pytest.raises(webhooks.WebhookUnresolved, match="does not resolve"):
        await webhooks.check_target("http://no-such-host.invalid/hook", allow_private=True)


async def test_a_delivery_connects_to_the_checked_address_and_names_the_host():
    # `paneas.invalid` resolves nowhere: the request can only reach the receiver through the
    # address the check found, and still names its host.
    with WebhookReceiver([204]) as receiver:
        port = receiver.server.server_port
        target = webhooks.Target(
            f"http://paneas.invalid:{port}/hooks/paneas?x=1",
            "http",
            "paneas.invalid",
            port,
            (ipaddress.ip_address("127.0.0.1"),),
        )
        assert await webhooks.post(target, b"{}", SECRET, 5.0) == 204
    (received,) = receiver.received
    assert received.path == "/hooks/paneas?x=1"
    assert received.headers["Host"] == f"paneas.invalid:{port}"


async def test_https_sends_the_host_as_sni_to_the_checked_address():
    # A TLS ClientHello carries the server name in clear: a plain socket reads it (no
    # certificate here, so the client then gives up).
    hello = bytearray()

    async def read_hello(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hello.extend(await reader.read(4096))
        writer.close()

    server = await asyncio.start_server(read_hello, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    target = webhooks.Target(
        f"https://hooks.paneas.invalid:{port}/",
        "https",
        "hooks.paneas.invalid",
        port,
        (ipaddress.ip_address("127.0.0.1"),),
    )
    async with server:
        with pytest.raises(httpx.HTTPError):
            await webhooks.post(target, b"{}", SECRET, 5.0)
    assert hello[:1] == b"\x16" and b"hooks.paneas.invalid" in hello


def test_the_default_schedule_is_at_least_5_attempts_over_about_10_minutes():
    settings = JobsSettings()
    times = webhooks.schedule(settings.webhook_attempts, settings.webhook_retry_base_seconds)
    assert len(times) >= 5
    assert 8 * 60 <= times[-1] <= 15 * 60
    assert times == [0, 20, 60, 140, 300, 620]
    assert [webhooks.backoff_seconds(retry, 0.5) for retry in range(3)] == [0.5, 1.0, 2.0]


def test_a_placeholder_webhook_secret_stops_the_process():
    with pytest.raises(InsecureSecret, match="JOBS_WEBHOOK_SECRET holds a placeholder"):
        JobsSettings(webhook_secret="change-me-to-a-long-random-secret")
    with pytest.raises(InsecureSecret, match="at least 16"):
        JobsSettings(webhook_secret="short")


@pytest.fixture
def engine(tmp_path):
    engine = open_engine(JobsSettings(database_url=f"sqlite:///{tmp_path}/jobs.db").async_url())
    asyncio.run(upgrade_schema(engine))
    yield engine
    asyncio.run(engine.dispose())


def _job(job_id: str, **values: object) -> dict:
    return {
        "id": job_id,
        "owner": "owner",
        "type": "transcription",
        "status": "queued",
        "progress": 0.0,
        "config": "{}",
        "filename": "call.wav",
        "input_bytes": 4,
        "created_at": now(),
        **values,
    }


def _settings(**values: object) -> JobsSettings:
    return JobsSettings(webhook_secret=SECRET, webhook_allow_private=True, **values)


async def test_delivery_is_signed_retried_on_500_and_recorded(engine):
    store = JobStore(engine)
    with WebhookReceiver([500, 204]) as receiver:
        await store.create(
            **_job(
                "job-1",
                status="failed",
                error_code="invalid_argument",
                error_message="not audio",
                finished_at=now(),
                webhook_url=receiver.url,
                webhook_state="pending",
            )
        )
        settings = _settings()
        assert await webhooks.deliver(engine, await store.get("job-1"), settings, False) == (
            "retried"
        )
        first = await store.get("job-1")
        assert (first.webhook_state, first.webhook_attempts, first.webhook_last_status) == (
            "pending",
            1,
            500,
        )
        assert "answered HTTP 500" in first.webhook_last_error
        assert await webhooks.deliver(engine, first, settings, False) == "delivered"
        # Delivered again (a redelivered task): nothing is sent twice.
        assert await webhooks.deliver(engine, await store.get("job-1"), settings, True) == (
            "skipped"
        )
    done = await store.get("job-1")
    assert (done.webhook_state, done.webhook_attempts, done.webhook_last_status) == (
        "delivered",
        2,
        204,
    )
    assert len(receiver.received) == 2
    received = receiver.received[-1]
    assert received.path == "/hooks/paneas"
    assert received.headers["Content-Type"] == "application/json"
    assert verify(SECRET, received.headers["X-Paneas-Signature"], received.body)
    assert json.loads(received.body) == {
        "id": "job-1",
        "type": "transcription",
        "status": "failed",
        "result_url": None,
        "error": {"code": "invalid_argument", "message": "not audio"},
    }


async def test_a_receiver_that_never_answers_2xx_fails_the_delivery_at_the_last_attempt(engine):
    store = JobStore(engine)
    with WebhookReceiver([302]) as receiver:
        await store.create(
            **_job(
                "job-2",
                status="succeeded",
                finished_at=now(),
                webhook_url=receiver.url,
                webhook_state="pending",
            )
        )
        settings = _settings(public_url="https://api.example.com/")
        assert await webhooks.deliver(engine, await store.get("job-2"), settings, True) == "failed"
    row = await store.get("job-2")
    assert (row.webhook_state, row.webhook_last_status) == ("failed", 302)
    assert "redirects are not followed" in row.webhook_last_error
    body = json.loads(receiver.received[0].body)
    assert body["result_url"] == "https://api.example.com/api/v1/jobs/job-2/result"


async def test_delivery_checks_the_target_again(engine):
    store = JobStore(engine)
    await store.create(
        **_job(
            "job-3",
            status="cancelled",
            finished_at=now(),
            webhook_url="http://169.254.169.254/latest/meta-data/",
            webhook_state="pending",
        )
    )
    settings = JobsSettings(webhook_secret=SECRET)
    assert await webhooks.deliver(engine, await store.get("job-3"), settings, False) == "refused"
    row = await store.get("job-3")
    assert row.webhook_state == "refused" and "link-local" in row.webhook_last_error


async def test_a_closed_port_is_a_connection_error_and_retried(engine):
    store = JobStore(engine)
    with WebhookReceiver([200]) as receiver:
        url = receiver.url  # a port that was just open and is closed now
    await store.create(**_job("job-4", status="succeeded", finished_at=now(), webhook_url=url))
    assert await webhooks.deliver(engine, await store.get("job-4"), _settings(), False) == (
        "retried"
    )
    row = await store.get("job-4")
    assert row.webhook_attempts == 1 and row.webhook_last_status is None
    assert "ConnectError" in row.webhook_last_error


async def test_retention_expires_jobs_ended_before_it_and_deletes_their_files(engine, tmp_path):
    await expires_jobs_ended_before_it(engine, tmp_path)


async def expires_jobs_ended_before_it(engine, tmp_path):
    store = JobStore(engine)
    storage = FileStorage(tmp_path / "storage")
    at = now()
    old, recent = at - timedelta(hours=73), at - timedelta(hours=71)
    cases = {
        "old-ok": {"status": "succeeded", "finished_at": old},
        "old-failed": {"status": "failed", "finished_at": old, "error_code": "internal"},
        "recent": {"status": "succeeded", "finished_at": recent},
        "running": {"status": "running", "started_at": old},
        "old-webhook-pending": {
            "status": "succeeded",
            "finished_at": old,
            "webhook_url": "http://8.8.8.8/",
            "webhook_state": "pending",
        },
        # A sweep stopped after marking it: its files are deleted now.
        "half-swept": {"status": "expired", "finished_at": old},
    }
    for job_id, values in cases.items():
        await store.create(**_job(job_id, created_at=old, **values))
        await storage.write(input_key(job_id), one_chunk(b"RIFF"))
        await storage.write(result_key(job_id), one_chunk(b"result"))

    assert await retention.sweep(engine, storage, 72.0, at=at) == 2
    statuses = {job_id: (await store.get(job_id)).status for job_id in cases}
    assert statuses == {
        "old-ok": "expired",
        "old-failed": "expired",
        "recent": "succeeded",
        "running": "running",
        "old-webhook-pending": "succeeded",
        "half-swept": "expired",
    }
    for job_id in ("old-ok", "old-failed", "half-swept"):
        assert not (tmp_path / "storage" / job_id).exists()
        assert (await store.get(job_id)).expired_at is not None
    for job_id in ("recent", "running", "old-webhook-pending"):
        assert (tmp_path / "storage" / job_id / "result.pb").exists()
    assert (await store.get("old-failed")).error_code == "internal"
    # Nothing left to do: a second sweep (or another worker's) changes nothing.
    assert await retention.sweep(engine, storage, 72.0, at=at) == 0


async def test_the_queue_gauges_come_from_the_records(engine):
    await gauges_come_from_the_records(engine)


async def gauges_come_from_the_records(engine):
    store = JobStore(engine)
    at = now()
    await store.create(**_job("q1", created_at=at - timedelta(seconds=90)))
    await store.create(**_job("q2", created_at=at - timedelta(seconds=5)))
    await store.create(**_job("r1", status="running"))
    await store.create(**_job("s1", status="succeeded", created_at=at - timedelta(hours=1)))
    await metrics.refresh_queue_gauges(engine, at=at)
    assert REGISTRY.get_sample_value("paneas_jobs_queued") == 2
    assert REGISTRY.get_sample_value("paneas_jobs_running") == 1
    assert REGISTRY.get_sample_value("paneas_jobs_oldest_queued_seconds") == pytest.approx(90)


async def test_on_postgresql_too(postgres, tmp_path):
    # A database of its own on the suite's server: the migration from scratch, retention's
    # sweep, the gauges' query and a delivery's record, as deployments run them.
    database = f"jobs_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres.url)
    try:
        await admin.execute(f"CREATE DATABASE {database}")
    finally:
        await admin.close()
    url = postgres.url.rsplit("/", 1)[0] + f"/{database}"
    engine = open_engine(JobsSettings(database_url=url).async_url())
    try:
        await upgrade_schema(engine)
        await expires_jobs_ended_before_it(engine, tmp_path)
        async with engine.begin() as connection:
            await connection.execute(delete(jobs))
        await gauges_come_from_the_records(engine)
        store = JobStore(engine)
        await store.create(
            **_job(
                "pg-hook",
                status="cancelled",
                finished_at=now(),
                webhook_url="http://10.0.0.1/hook",
                webhook_state="pending",
            )
        )
        settings = JobsSettings(webhook_secret=SECRET)
        assert await webhooks.deliver(engine, await store.get("pg-hook"), settings, False) == (
            "refused"
        )
        assert (await store.get("pg-hook")).webhook_attempts == 1
    finally:
        await engine.dispose()


def test_an_ended_job_is_counted():
    start = now()
    row = SimpleNamespace(
        type="transcription",
        status="failed",
        started_at=start,
        finished_at=start + timedelta(seconds=3),
        duration_seconds=None,
        error_code="storage_unavailable",
    )
    before = REGISTRY.get_sample_value(
        "paneas_jobs_failures_total", {"reason": "storage_unavailable"}
    )
    metrics.job_ended(row)
    after = REGISTRY.get_sample_value(
        "paneas_jobs_failures_total", {"reason": "storage_unavailable"}
    )
    assert after == (before or 0) + 1
    assert REGISTRY.get_sample_value(
        "paneas_jobs_duration_seconds_count", {"type": "transcription", "status": "failed"}
    )


@pytest.fixture
def client(tmp_path, monkeypatch):
    monkeypatch.setenv("JOBS_ENABLED", "true")
    monkeypatch.setenv("JOBS_BROKER_URL", "memory://")
    monkeypatch.setenv("JOBS_STORAGE_URL", (tmp_path / "storage").as_uri())
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/gateway.db")
    monkeypatch.setenv("ANALYTICS_ENABLED", "false")
    monkeypatch.setenv("JOBS_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("JOBS_RETENTION_HOURS", "0.5")
    app = create_app(
        GatewaySettings(asr_target="127.0.0.1:1", ocr_target="", llm_target=""),
        RuntimeSettings(api_tokens=[OWNER]),
    )
    with TestClient(app, headers={"Authorization": f"Bearer {OWNER}"}) as client:
        client.storage_root = tmp_path / "storage"
        yield client


def _create(client: TestClient, **form: str):
    return client.post("/api/v1/jobs", files={"file": ("call.wav", b"RIFF....WAVE")}, data=form)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:9000/hook", "127.0.0.1, a loopback address"),
        ("http://[::1]/hook", "::1, a loopback address"),
        ("http://localhost/hook", "'localhost' resolves to"),
        ("http://169.254.169.254/", "a link-local address"),
        ("gopher://example.com/", "is not an http(s) URL"),
    ],
)
def test_creation_refuses_webhooks_that_cannot_be_delivered(client, url, message):
    answer = _create(client, webhook_url=url)
    assert answer.status_code == 400 and message in answer.json()["message"], answer.text
    assert client.get("/api/v1/jobs").json()["data"] == []


def test_creation_refuses_webhooks_without_a_secret(client):
    client.app.state.jobs.settings = JobsSettings(webhook_secret="")
    answer = _create(client, webhook_url="https://8.8.8.8/hook")
    assert answer.status_code == 400
    assert "JOBS_WEBHOOK_SECRET is not set" in answer.json()["message"]


def test_a_job_shows_its_webhook_and_once_expired_says_so(client):
    answer = _create(client, webhook_url="https://8.8.8.8/hook")
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert job["webhook"] == {
        "url": "https://8.8.8.8/hook",
        "state": "pending",
        "attempts": 0,
        "last_status": None,
        "last_error": None,
    }
    state = client.app.state.jobs
    # Cancelled (its webhook queued on the in-memory broker, never delivered: no worker), then
    # past retention: expired once its pending delivery is a day past it too.
    assert client.portal.call(state.store.cancel, job["id"])

    def sweep(later: timedelta) -> int:
        at = now() + later
        return client.portal.call(retention.sweep, state.store.engine, state.storage, 0.5, at)

    assert sweep(timedelta(hours=1)) == 0
    assert sweep(timedelta(days=1, hours=1)) == 1
    expired = client.get(f"/api/v1/jobs/{job['id']}").json()
    assert expired["status"] == "expired" and expired["result"] is None
    gone = client.get(f"/api/v1/jobs/{job['id']}/result")
    assert gone.status_code == 410
    assert gone.json()["message"] == (
        f"job {job['id']!r} expired: its input and result were deleted 0.5 h after it ended "
        "(JOBS_RETENTION_HOURS)"
    )
    assert (
        client.get("/api/v1/jobs", params={"status": "expired"}).json()["data"][0]["id"]
        == (job["id"])
    )
