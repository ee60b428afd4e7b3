"""Request ids, JSON access logs, /metrics, traces spanning gateway -> service, gzip, CORS."""

import json
import re
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import start_gateway

pytestmark = pytest.mark.backends("ocr")


@pytest.fixture(scope="module")
def headers(api_token) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token}"}


def metric_value(text: str, name: str, **labels: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def log_line(process, predicate, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for raw in process.log_text().splitlines():
            if raw.startswith("{"):
                line = json.loads(raw)
                if predicate(line):
                    return line
        time.sleep(0.1)
    raise AssertionError("no matching log line")


def test_request_id_is_echoed_or_created(gateway, headers):
    given = httpx.get(
        f"{gateway.url}/api/v1/ocr/engines", headers={**headers, "X-Request-ID": "abc-123"}
    )
    assert given.headers["x-request-id"] == "abc-123"
    created = httpx.get(f"{gateway.url}/api/v1/ocr/engines", headers=headers)
    assert re.fullmatch(r"[0-9a-f]{32}", created.headers["x-request-id"])


def test_one_trace_spans_gateway_and_service(gateway, ocr_service, headers, otlp_collector):
    response = httpx.get(
        f"{gateway.url}/api/v1/ocr/engines", headers={**headers, "X-Request-ID": "trace-me"}
    )
    assert response.status_code == 200
    access = log_line(gateway.process, lambda line: line.get("request_id") == "trace-me")
    assert access["event"] == "http"
    assert access["route"] == "/api/v1/ocr/engines"
    assert access["status"] == 200
    trace_id = access["trace_id"]
    # The service logged the same request id under the same trace.
    service_line = log_line(ocr_service.process, lambda line: line.get("request_id") == "trace-me")
    assert service_line["trace_id"] == trace_id

    deadline = time.monotonic() + 15
    services: set[str] = set()
    while time.monotonic() < deadline and services != {"gateway", "ocr"}:
        services = {s["service"] for s in otlp_collector.spans() if s["trace_id"] == trace_id}
        time.sleep(0.2)
    assert services == {"gateway", "ocr"}


def test_metrics_cover_http_and_grpc_client(gateway, headers):
    httpx.get(f"{gateway.url}/api/v1/ocr/engines", headers=headers)
    httpx.get(f"{gateway.url}/api/v1/ocr/engines")  # 401
    text = httpx.get(f"{gateway.url}/metrics").text
    route = "/api/v1/ocr/engines"
    assert metric_value(text, "paneas_gateway_http_requests_total", route=route, status="200") >= 1
    assert metric_value(text, "paneas_gateway_http_requests_total", route=route, status="401") >= 1
    assert (
        metric_value(text, "paneas_gateway_http_request_duration_seconds_count", route=route) >= 2
    )
    assert (
        metric_value(text, "grpc_client_handled_total", grpc_method="ListEngines", grpc_code="OK")
        >= 1
    )
    assert "paneas_gateway_http_in_flight" in text


def test_large_json_is_gzipped(gateway):
    response = httpx.get(f"{gateway.url}/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert "paths" in response.json()


def test_cors_is_off_unless_configured(gateway):
    response = httpx.options(
        f"{gateway.url}/api/v1/ocr/engines",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in response.headers


def test_cors_allows_only_configured_origins(api_token, ocr_service, tmp_path):
    gateway = start_gateway(
        api_token, ocr_service.target, tmp_path, GATEWAY_CORS_ORIGINS="https://app.example"
    )
    try:
        preflight = {
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        }
        allowed = httpx.options(
            f"{gateway.url}/api/v1/ocr/engines",
            headers={"Origin": "https://app.example", **preflight},
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        assert "access-control-allow-credentials" not in allowed.headers
        refused = httpx.options(
            f"{gateway.url}/api/v1/ocr/engines",
            headers={"Origin": "https://evil.example", **preflight},
        )
        assert "access-control-allow-origin" not in refused.headers
    finally:
        gateway.process.stop()
