"""Rate limiting on real gateway processes, with a real redis-server for shared counters.

Gateways here count in 2-second windows (RATE_LIMIT_WINDOW_SECONDS) so that recovery can be
waited for; `POST /api/v1/ocr` without a file is the cheap request (a 400 that still counts).
"""

import json
import secrets
import time

import grpc
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from paneas.services.processes import free_port
from tests.conftest import start_gateway
from tests.support.redis_server import RedisServer

WINDOW_SECONDS = 2
OCR_LIMIT = 3
LIMIT_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


@pytest.fixture(scope="module")
def tokens() -> list[str]:
    return [secrets.token_urlsafe(16) for _ in range(4)]


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis") / "redis.log")
    yield server
    server.kill()


def limited_env(redis_url: str = "", **overrides: str) -> dict[str, str]:
    env = {
        "RATE_LIMIT_WINDOW_SECONDS": str(WINDOW_SECONDS),
        "RATE_LIMIT_OCR": str(OCR_LIMIT),
        "RATE_LIMIT_LLM": "2",
        **overrides,
    }
    return {"REDIS_URL": redis_url, **env} if redis_url else env


@pytest.fixture(scope="module")
def gateway_on_redis(tokens, ocr_service, redis, tmp_path_factory):
    running = start_gateway(
        ",".join(tokens),
        ocr_service.target,
        tmp_path_factory.mktemp("gateway-on-redis"),
        **limited_env(redis.url),
    )
    yield running
    running.process.stop()


def ocr(url: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{url}/api/v1/ocr", headers=headers, data={"pages": "1"})


def metric_value(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    )


def test_the_limit_is_a_429_with_retry_after_until_the_window_frees(gateway_on_redis, tokens):
    url = gateway_on_redis.url
    served = [ocr(url, tokens[0]) for _ in range(OCR_LIMIT)]
    assert [response.status_code for response in served] == [400] * OCR_LIMIT
    assert [response.headers["x-ratelimit-remaining"] for response in served] == ["2", "1", "0"]
    assert {response.headers["x-ratelimit-limit"] for response in served} == {str(OCR_LIMIT)}
    refused = ocr(url, tokens[0])
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= WINDOW_SECONDS
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert 0 < int(refused.headers["x-ratelimit-reset"]) - time.time() <= WINDOW_SECONDS + 1
    body = refused.json()
    assert body["code"] == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    assert body["message"].startswith(f"rate limit of {OCR_LIMIT} per {WINDOW_SECONDS} s for ocr")
    assert body["details"] == []
    assert metric_value(url, "paneas_gateway_rate_limited_total") >= 1

    time.sleep(int(refused.headers["retry-after"]))
    assert ocr(url, tokens[0]).status_code == 400


def test_each_token_has_its_own_budget(gateway_on_redis, tokens):
    for _ in range(OCR_LIMIT):
        ocr(gateway_on_redis.url, tokens[1])
    assert ocr(gateway_on_redis.url, tokens[1]).status_code == 429
    other = ocr(gateway_on_redis.url, tokens[2])
    assert other.status_code == 400
    assert other.headers["x-ratelimit-remaining"] == str(OCR_LIMIT - 1)


def test_anonymous_and_invalid_tokens_share_the_address_budget(gateway_on_redis, tokens):
    url = gateway_on_redis.url
    attempts = [ocr(url), ocr(url, "not-a-token"), ocr(url)]
    assert [response.status_code for response in attempts] == [401] * OCR_LIMIT
    assert ocr(url, "another-wrong-token").status_code == 429
    assert ocr(url).status_code == 429
    assert ocr(url, tokens[3]).status_code == 400


def test_health_is_exempt(gateway_on_redis):
    for _ in range(OCR_LIMIT + 2):
        response = httpx.get(f"{gateway_on_redis.url}/api/v1/health")
        assert response.status_code == 200
        assert not any(name in response.headers for name in LIMIT_HEADERS)


def test_openai_routes_get_openai_error_bodies(gateway_on_redis, tokens):
    headers = {"Authorization": f"Bearer {tokens[3]}"}
    for _ in range(2):
        httpx.get(f"{gateway_on_redis.url}/v1/models", headers=headers)
    refused = httpx.get(f"{gateway_on_redis.url}/v1/models", headers=headers)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "rate_limit_exceeded" and error["param"] is None
    assert "for llm exceeded" in error["message"]
    assert "retry-after" in refused.headers


def test_gateways_on_one_redis_share_their_counts(
    gateway_on_redis, tokens, ocr_service, redis, tmp_path
):
    other = start_gateway(",".join(tokens), ocr_service.target, tmp_path, **limited_env(redis.url))
    try:
        time.sleep(WINDOW_SECONDS)  # the earlier tests' requests have left the window
        assert ocr(gateway_on_redis.url, tokens[2]).status_code == 400
        assert ocr(other.url, tokens[2]).headers["x-ratelimit-remaining"] == "1"
        assert ocr(gateway_on_redis.url, tokens[2]).status_code == 400
        assert ocr(other.url, tokens[2]).status_code == 429
    finally:
        other.process.stop()


def test_memory_storage_without_redis_and_the_global_limit(tokens, ocr_service, tmp_path):
    gateway = start_gateway(
        tokens[0], ocr_service.target, tmp_path, **limited_env(RATE_LIMIT_GLOBAL="4")
    )
    try:
        assert [ocr(gateway.url, tokens[0]).status_code for _ in range(4)] == [400, 400, 400, 429]
        # Unclassified routes count against the global limit only; 3 OCR calls used 3 of 4.
        unknown = f"{gateway.url}/api/v1/unknown"
        headers = {"Authorization": f"Bearer {tokens[0]}"}
        assert httpx.get(unknown, headers=headers).status_code == 404
        refused = httpx.get(unknown, headers=headers)
        assert refused.status_code == 429
        assert "for global exceeded" in refused.json()["message"]
    finally:
        gateway.process.stop()


def test_a_redis_outage_fails_open_and_limiting_resumes(tokens, ocr_service, tmp_path):
    redis = RedisServer(tmp_path / "redis.log")
    gateway = start_gateway(tokens[0], ocr_service.target, tmp_path, **limited_env(redis.url))
    try:
        assert "x-ratelimit-limit" in ocr(gateway.url, tokens[0]).headers
        redis.kill()
        during_outage = [ocr(gateway.url, tokens[0]) for _ in range(OCR_LIMIT + 2)]
        assert {response.status_code for response in during_outage} == {400}
        assert not any("x-ratelimit-limit" in response.headers for response in during_outage)
        assert metric_value(gateway.url, "paneas_gateway_rate_limit_storage_errors_total") >= 1
        assert metric_value(gateway.url, "paneas_gateway_rate_limit_storage_up") == 0
        warnings = [
            line
            for line in gateway.process.log_text().splitlines()
            if "rate limit storage unreachable" in line
        ]
        assert len(warnings) == 1 and json.loads(warnings[0])["level"] == "warning"

        redis.start()
        time.sleep(1.2)  # the limiter leaves a failed storage alone for a second
        statuses = [ocr(gateway.url, tokens[0]).status_code for _ in range(OCR_LIMIT + 1)]
        assert statuses == [400] * OCR_LIMIT + [429]
        assert metric_value(gateway.url, "paneas_gateway_rate_limit_storage_up") == 1
    finally:
        gateway.process.stop()
        redis.kill()


def test_fail_closed_refuses_with_503_when_redis_is_unreachable(tokens, ocr_service, tmp_path):
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    gateway = start_gateway(
        tokens[0],
        ocr_service.target,
        tmp_path,
        **limited_env(dead_redis, RATE_LIMIT_FAIL_OPEN="false"),
    )
    try:
        refused = ocr(gateway.url, tokens[0])
        assert refused.status_code == 503
        assert refused.json()["code"] == grpc.StatusCode.UNAVAILABLE.value[0]
        assert "RATE_LIMIT_FAIL_OPEN" in refused.json()["message"]
        assert httpx.get(f"{gateway.url}/api/v1/health").status_code == 200
    finally:
        gateway.process.stop()
