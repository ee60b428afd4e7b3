"""The gateway without its analytics database: it starts and serves, and catches up when a
real PostgreSQL comes up; percentiles computed by each database (issue 15)."""

import dataclasses
import random
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from paneas.gateway.analytics.database import EventStore, open_engine, upgrade_schema
from paneas.gateway.analytics.queries import percentile, usage_summary
from paneas.gateway.analytics.settings import async_database_url
from paneas.services.processes import free_port
from tests.conftest import start_gateway
from tests.gateway.test_analytics import event
from tests.support.postgres_server import PostgresServer, postgres_fixture  # noqa: F401

SERVED_DURING_OUTAGE = 4


def metric(url: str, name: str) -> float:
    line = next(
        line for line in httpx.get(f"{url}/metrics").text.splitlines() if line.startswith(name)
    )
    return float(line.split()[-1])


def test_the_gateway_serves_while_the_database_is_down_and_catches_up(
    api_token, ocr_service, tmp_path
):
    port = free_port()  # nothing listens there yet: the database is down
    gateway = start_gateway(
        api_token,
        ocr_service.target,
        tmp_path,
        DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/paneas",
        ANALYTICS_MIGRATION_RETRY_SECONDS="1",
    )
    headers = {"Authorization": f"Bearer {api_token}"}
    server = None
    try:
        for _ in range(SERVED_DURING_OUTAGE):  # served: a 400 from the route, not a 5xx
            response = httpx.post(f"{gateway.url}/api/v1/ocr", headers=headers, data={"p": "1"})
            assert response.status_code == 400, response.text
        assert metric(gateway.url, "paneas_gateway_analytics_database_up") == 0
        unavailable = httpx.get(f"{gateway.url}/api/v1/analytics", headers=headers)
        assert unavailable.status_code == 503
        assert "analytics database is unreachable" in unavailable.json()["message"]

        server = PostgresServer(port=port)
        deadline = time.monotonic() + 60
        while True:
            summary = httpx.get(f"{gateway.url}/api/v1/analytics", headers=headers)
            if summary.status_code == 200 and (
                summary.json()["overall"]["count"] >= SERVED_DURING_OUTAGE
            ):
                break
            assert time.monotonic() < deadline, summary.text
            time.sleep(0.5)
        assert metric(gateway.url, "paneas_gateway_analytics_database_up") == 1
    finally:
        gateway.process.stop()
        if server is not None:
            server.stop()


def test_a_window_wider_than_the_cap_is_refused(api_token, ocr_service, tmp_path):
    gateway = start_gateway(api_token, ocr_service.target, tmp_path, ANALYTICS_MAX_WINDOW_DAYS="7")
    try:
        response = httpx.get(
            f"{gateway.url}/api/v1/analytics",
            headers={"Authorization": f"Bearer {api_token}"},
            params={"start": "2030-01-01T00:00:00Z", "end": "2030-01-09T00:00:00Z"},
        )
        assert response.status_code == 400
        assert "ANALYTICS_MAX_WINDOW_DAYS" in response.json()["message"]
    finally:
        gateway.process.stop()


# PostgreSQL is a process of its own: that case is slow.
@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
async def engine(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'analytics.db'}"
    else:
        url = request.getfixturevalue("postgres").url
    engine = open_engine(async_database_url(url))
    await upgrade_schema(engine)
    yield engine
    await engine.dispose()


async def test_percentiles_computed_by_the_database_match_percentile_cont(engine):
    """SQLite ranks the rows and the gateway interpolates between two of them; PostgreSQL
    has percentile_cont. Both give the same as interpolating the sorted list."""
    generator = random.Random(15)
    base = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=1)
    routes = {"/a": 37, "/b": 1, "/c": 200}
    latencies: dict[str, list[float]] = {}
    events = []
    for route, count in routes.items():
        latencies[route] = [generator.uniform(1, 1000) for _ in range(count)]
        events.extend(
            dataclasses.replace(event(number), route=route, latency_ms=latency, occurred_at=base)
            for number, latency in enumerate(latencies[route])
        )
    await EventStore(engine).insert(events)
    summary = await usage_summary(engine, base, base + timedelta(minutes=2), ["route"])
    for group in summary["groups"]:
        ordered = sorted(latencies[group["route"]])
        for name, fraction in (("p50", 0.5), ("p95", 0.95)):
            assert group["latency_ms"][name] == pytest.approx(percentile(ordered, fraction))
    everything = sorted(latency for values in latencies.values() for latency in values)
    assert summary["overall"]["latency_ms"]["p95"] == pytest.approx(percentile(everything, 0.95))
    empty = await usage_summary(engine, base - timedelta(days=2), base, ["route"])
    assert empty["overall"]["latency_ms"] == {"p50": None, "p95": None}
