"""Gateway skeleton: backend health, error mapping, body limit."""

import grpc
import httpx
import pytest

from paneas.services.processes import free_port
from tests.conftest import start_gateway

pytestmark = pytest.mark.backends("ocr")


@pytest.fixture(scope="module")
def headers(api_token) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token}"}


def test_health_reports_each_backend(gateway, ocr_service, headers):
    response = httpx.get(f"{gateway.url}/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    # Addresses only to callers with a token (tests/gateway/test_hardening.py).
    assert body["backends"]["ocr"] == {"status": "SERVING"}
    detailed = httpx.get(f"{gateway.url}/api/v1/health", headers=headers).json()
    assert detailed["backends"]["ocr"] == {"target": ocr_service.target, "status": "SERVING"}


def test_missing_file_is_a_400_with_a_status_body(gateway, headers):
    response = httpx.post(f"{gateway.url}/api/v1/ocr", headers=headers, data={"pages": "1"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "file" in body["message"]


def test_unknown_engine_is_a_400(gateway, headers):
    response = httpx.post(
        f"{gateway.url}/api/v1/ocr",
        headers=headers,
        files={"file": ("a.png", b"x")},
        data={"engine": "abbyy"},
    )
    assert response.status_code == 400
    assert "engine" in response.json()["message"]


def test_body_over_the_limit_is_a_413(gateway, headers):
    too_big = b"\0" * (8 * 1024 * 1024 + 1)
    response = httpx.post(
        f"{gateway.url}/api/v1/ocr", headers=headers, files={"file": ("big.png", too_big)}
    )
    assert response.status_code == 413
    body = response.json()
    assert body["code"] == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    assert "GATEWAY_MAX_BODY_BYTES" in body["message"]


def test_openapi_lists_the_routes(gateway):
    paths = httpx.get(f"{gateway.url}/openapi.json").json()["paths"]
    assert "/api/v1/ocr" in paths and "/api/v1/health" in paths


# A gateway of its own (start_gateway).
@pytest.mark.slow
def test_unreachable_backend_is_a_503(api_token, headers, tmp_path):
    dead_target = f"127.0.0.1:{free_port()}"
    orphan = start_gateway(api_token, dead_target, tmp_path)
    try:
        health = httpx.get(f"{orphan.url}/api/v1/health")
        assert health.status_code == 503
        assert health.json()["backends"]["ocr"]["status"] == "UNREACHABLE"
        response = httpx.post(
            f"{orphan.url}/api/v1/ocr", headers=headers, files={"file": ("a.png", b"x")}
        )
        assert response.status_code == 503
        assert response.json()["code"] == grpc.StatusCode.UNAVAILABLE.value[0]
        assert response.json()["message"].startswith("the ocr service is unavailable")
    finally:
        orphan.process.stop()
