"""Usage analytics: real gateways on SQLite and on a real PostgreSQL, and the recorder's
behaviour when the database is slow or the queue overflows (in process).
"""

import asyncio
import hashlib
import sqlite3
import time
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest
from fastapi import FastAPI, Request
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from paneas.gateway.analytics.database import EventStore, open_engine, upgrade_schema
from paneas.gateway.analytics.middleware import AnalyticsMiddleware
from paneas.gateway.analytics.models import UsageEvent, usage_events
from paneas.gateway.analytics.recorder import UsageRecorder
from paneas.gateway.analytics.settings import async_database_url
from paneas.gateway.usage import usage_of
from tests.conftest import start_gateway
from tests.ocr.documents import encode, render_text
from tests.support.postgres_server import postgres_fixture  # noqa: F401 (the fixture)

OCR_ROUTE = "/api/v1/ocr"
REQUEST_ID = "analytics-test"
# What `send_known_mix` sends: 3 recognised images, 2 bad uploads (400) and 1 without token.
SENT, ERRORS, RECOGNISED = 6, 3, 3


@pytest.fixture(scope="module")
def headers(api_token) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token}", "X-Request-ID": REQUEST_ID}


@pytest.fixture(scope="module")
def sqlite_gateway(api_token, ocr_service, tmp_path_factory):
    folder = tmp_path_factory.mktemp("analytics-sqlite")
    database = folder / "state" / "analytics.db"
    running = start_gateway(
        api_token, ocr_service.target, folder, DATABASE_URL=f"sqlite:///{database}"
    )
    running.database = database
    yield running
    running.process.stop()


@pytest.fixture(scope="module")
def postgres_gateway(api_token, ocr_service, postgres, tmp_path_factory):
    folder = tmp_path_factory.mktemp("analytics-postgres")
    running = start_gateway(api_token, ocr_service.target, folder, DATABASE_URL=postgres.url)
    yield running
    running.process.stop()


def send_known_mix(url: str, headers: dict[str, str]) -> None:
    image = encode(render_text(["Usage analytics count this page"]), "PNG")
    statuses = [
        *(
            httpx.post(f"{url}{OCR_ROUTE}", headers=headers, files={"file": ("a.png", image)})
            for _ in range(RECOGNISED)
        ),
        httpx.post(f"{url}{OCR_ROUTE}", headers=headers, data={"pages": "1"}),
        httpx.post(f"{url}{OCR_ROUTE}", headers=headers, files={"file": ("b.png", b"garbage")}),
        httpx.post(f"{url}{OCR_ROUTE}", files={"file": ("a.png", image)}),
        # Probes, scrapes and reading the analytics are not recorded.
        httpx.get(f"{url}/api/v1/health"),
        httpx.get(f"{url}/metrics"),
    ]
    assert [response.status_code for response in statuses] == [200] * 3 + [400, 400, 401] + [
        200,
        200,
    ]


def summary(url: str, headers: dict[str, str], **params: str) -> dict:
    response = httpx.get(f"{url}/api/v1/analytics", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for_count(url: str, headers: dict[str, str], count: int) -> dict:
    deadline = time.monotonic() + 10
    while (body := summary(url, headers))["overall"]["count"] < count:
        assert time.monotonic() < deadline, f"events not written: {body}"
        time.sleep(0.2)
    return body


def assert_totals_match_the_mix(url: str, headers: dict[str, str]) -> None:
    by_route = wait_for_count(url, headers, SENT)
    assert by_route["group_by"] == ["route"]
    [ocr] = by_route["groups"]
    assert ocr["route"] == OCR_ROUTE
    assert (ocr["count"], ocr["error_count"], ocr["error_rate"]) == (SENT, ERRORS, 0.5)
    assert ocr["totals"]["pages"] == RECOGNISED
    assert ocr["totals"]["characters"] > 0
    assert ocr["totals"]["request_bytes"] > 0 and ocr["totals"]["response_bytes"] > 0
    assert 0 < ocr["latency_ms"]["p50"] <= ocr["latency_ms"]["p95"]
    assert by_route["overall"]["count"] == SENT
    assert by_route["overall"]["totals"] == ocr["totals"]

    by_day_and_model = summary(url, headers, group_by="day,model")
    [today] = by_day_and_model["groups"]
    assert today["day"] == datetime.now(UTC).date().isoformat()
    assert today["model"] is None  # OCR names no model
    assert today["count"] == SENT

    before = summary(url, headers, end="2000-01-01T00:00:00Z")
    assert before["groups"] == [] and before["overall"]["count"] == 0


def test_sqlite_records_every_request_with_its_usage(sqlite_gateway, headers, api_token):
    send_known_mix(sqlite_gateway.url, headers)
    assert_totals_match_the_mix(sqlite_gateway.url, headers)

    with sqlite3.connect(sqlite_gateway.database) as db:
        rows = db.execute(
            "SELECT status, rpc, token_hash, request_id FROM usage_events ORDER BY id"
        ).fetchall()
    token_hash = hashlib.sha256(api_token.encode()).hexdigest()[:16]
    rpc = "/paneas.ocr.v1.OcrService/Recognize"
    assert rows[:RECOGNISED] == [(200, rpc, token_hash, REQUEST_ID)] * RECOGNISED
    anonymous = rows[-1]
    assert anonymous[0] == 401 and anonymous[2] is None
    assert not any(api_token in str(row) for row in rows)


async def test_postgresql_records_every_request_after_migrating(
    postgres_gateway, postgres, headers
):
    await asyncio.to_thread(send_known_mix, postgres_gateway.url, headers)
    await asyncio.to_thread(assert_totals_match_the_mix, postgres_gateway.url, headers)

    connection = await asyncpg.connect(postgres.url)
    try:
        assert await connection.fetchval("SELECT version_num FROM alembic_version") == "0001"
    finally:
        await connection.close()


def test_stopping_the_gateway_writes_what_is_still_queued(api_token, ocr_service, tmp_path):
    database = tmp_path / "analytics.db"
    gateway = start_gateway(
        api_token,
        ocr_service.target,
        tmp_path,
        DATABASE_URL=f"sqlite:///{database}",
        # No periodic flush before the stop: only shutdown's flush can write the events.
        ANALYTICS_FLUSH_INTERVAL_SECONDS="60",
    )
    headers = {"Authorization": f"Bearer {api_token}"}
    for _ in range(5):
        httpx.post(f"{gateway.url}{OCR_ROUTE}", headers=headers, data={"pages": "1"})
    gateway.process.stop()
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM usage_events").fetchone() == (5,)


def test_the_analytics_route_needs_a_token_and_valid_parameters(sqlite_gateway, headers):
    url = f"{sqlite_gateway.url}/api/v1/analytics"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    for params in ({"group_by": "route,colour"}, {"start": "yesterday"}):
        refused = httpx.get(url, headers=headers, params=params)
        assert refused.status_code == 400
        assert refused.json()["code"] == 3  # INVALID_ARGUMENT
    backwards = {"start": "2030-01-02T00:00:00Z", "end": "2030-01-01T00:00:00Z"}
    assert httpx.get(url, headers=headers, params=backwards).status_code == 400


def test_urls_get_async_drivers():
    assert async_database_url("postgresql://u@h/db").drivername == "postgresql+asyncpg"
    assert async_database_url("sqlite:///x.db").drivername == "sqlite+aiosqlite"
    assert async_database_url("sqlite+aiosqlite:///x.db").drivername == "sqlite+aiosqlite"


# In process: the recorder between requests and a database made slow on purpose.


def dropped(reason: str) -> float:
    value = REGISTRY.get_sample_value("paneas_gateway_analytics_dropped_total", {"reason": reason})
    return value or 0.0


def event(number: int) -> UsageEvent:
    return UsageEvent(
        occurred_at=datetime.now(UTC).replace(tzinfo=None),
        route="/test",
        method="GET",
        rpc=None,
        model=None,
        status=200,
        latency_ms=1.0,
        request_bytes=0,
        response_bytes=0,
        audio_seconds=0.0,
        prompt_tokens=0,
        completion_tokens=0,
        pages=number,
        characters=0,
        token_hash=None,
        request_id=str(number),
    )


@pytest.fixture
async def sqlite_store(tmp_path):
    engine = open_engine(async_database_url(f"sqlite:///{tmp_path / 'analytics.db'}"))
    await upgrade_schema(engine)
    yield EventStore(engine)
    await engine.dispose()


async def stored_count(store: EventStore) -> int:
    async with store.engine.connect() as connection:
        return await connection.scalar(select(func.count()).select_from(usage_events))


async def test_a_slow_database_neither_slows_requests_nor_loses_events(sqlite_store):
    write_seconds = 0.5

    async def slow_insert(events):
        await asyncio.sleep(write_seconds)
        await sqlite_store.insert(events)

    recorder = UsageRecorder(slow_insert, queue_size=100, batch_size=10, flush_interval=0.05)
    app = FastAPI()

    @app.get("/work")
    async def work(request: Request) -> dict:
        usage_of(request).pages = 1
        return {}

    app.add_middleware(AnalyticsMiddleware, recorder=recorder, routes=app.routes, tokens=[])
    recorder.start()
    requests = 40
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://test"
    ) as client:
        started = time.perf_counter()
        for _ in range(requests):
            assert (await client.get("/work")).status_code == 200
        serving_seconds = time.perf_counter() - started
    # 4 batches at 0.5 s each would take 2 s if requests waited for the database.
    assert serving_seconds < write_seconds
    assert await stored_count(sqlite_store) < requests

    await recorder.stop(within_seconds=10)
    assert await stored_count(sqlite_store) == requests
    async with sqlite_store.engine.connect() as connection:
        pages = await connection.scalar(select(func.sum(usage_events.c.pages)))
    assert pages == requests


async def test_a_full_queue_drops_and_counts_without_blocking(sqlite_store):
    never = asyncio.Event()

    async def stuck_insert(events):
        await never.wait()

    recorder = UsageRecorder(stuck_insert, queue_size=5, batch_size=2, flush_interval=0.05)
    full_before = dropped("queue_full")
    started = time.perf_counter()
    for number in range(8):
        recorder.record(event(number))
    assert time.perf_counter() - started < 0.05
    assert dropped("queue_full") - full_before == 3

    # The stuck writer holds one batch of 2; 3 stay queued: shutdown gives up on all 5.
    recorder.start()
    await asyncio.sleep(0.1)
    shutdown_before = dropped("shutdown")
    await recorder.stop(within_seconds=0.2)
    assert dropped("shutdown") - shutdown_before == 5


async def test_shutdown_flushes_what_is_queued(sqlite_store):
    recorder = UsageRecorder(
        sqlite_store.insert, queue_size=1000, batch_size=100, flush_interval=60
    )
    recorder.start()
    for number in range(250):
        recorder.record(event(number))
    await recorder.stop(within_seconds=5)
    assert await stored_count(sqlite_store) == 250


async def test_an_outage_is_retried_and_a_refused_batch_is_dropped(sqlite_store):
    failures = [OperationalError("INSERT", {}, Exception("database is locked")), ValueError()]

    async def flaky_insert(events):
        if failures:
            raise failures.pop(0)
        await sqlite_store.insert(events)

    recorder = UsageRecorder(flaky_insert, queue_size=100, batch_size=3, flush_interval=0.01)
    refused_before = dropped("write_failed")
    for number in range(6):
        recorder.record(event(number))
    recorder.start()
    await recorder.stop(within_seconds=5)
    # The first batch failed transiently and was retried; the second was refused, dropped.
    assert await stored_count(sqlite_store) == 3
    assert dropped("write_failed") - refused_before == 3
