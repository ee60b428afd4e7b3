"""The ingress checks the bearer token on a call's headers, before its body is read, and
exposes only read-only stats besides the gRPC listener (real Envoy, the `mesh` fixture)."""

import time
import urllib.error
import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from paneas.asr.v1 import asr_pb2, asr_pb2_grpc

BODY_BYTES = 45 * 1024 * 1024


def _asr_requests_relayed(mesh) -> int:
    """How many requests Envoy has sent to the ASR instances so far."""
    stats = mesh.envoy.admin_get("/stats?filter=^cluster\\.asr\\.upstream_rq_total$")
    return int(stats.split(":")[1])


@pytest.mark.parametrize(
    ("metadata", "says"),
    [
        ((), "missing bearer token"),
        ((("authorization", "Bearer not-a-token-of-this-stack"),), "invalid bearer token"),
    ],
)
async def test_unauthenticated_45_mb_call_is_refused_before_reaching_a_service(
    mesh, metadata, says
):
    relayed = _asr_requests_relayed(mesh)
    options = [("grpc.max_send_message_length", 64 * 1024 * 1024)]
    async with grpc.aio.insecure_channel(mesh.envoy.address, options=options) as channel:
        stub = asr_pb2_grpc.AsrServiceStub(channel)
        request = asr_pb2.RecognizeRequest(audio=bytes(BODY_BYTES))
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Recognize(request, metadata=metadata, timeout=60)
        elapsed = time.monotonic() - started
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert says in caught.value.details()
    # Generous for a busy box: what matters is that no service received it.
    assert elapsed < 10, elapsed
    assert _asr_requests_relayed(mesh) == relayed


async def test_health_needs_no_token_through_the_ingress(mesh):
    async with grpc.aio.insecure_channel(mesh.envoy.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        reply = await health.Check(
            health_pb2.HealthCheckRequest(service="paneas.asr.v1.AsrService"), timeout=10
        )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_stats_listener_serves_metrics_and_nothing_of_admin(mesh):
    stats = f"http://127.0.0.1:{mesh.envoy.target.stats_port}"
    with urllib.request.urlopen(f"{stats}/stats/prometheus", timeout=5) as response:
        assert "envoy_cluster_upstream_rq_total" in response.read().decode()
    with urllib.request.urlopen(f"{stats}/ready", timeout=5) as response:
        assert response.read().decode().strip() == "LIVE"
    for method, path in (
        ("POST", "/quitquitquit"),
        ("POST", "/healthcheck/fail"),
        ("GET", "/clusters"),
        ("GET", "/config_dump"),
        ("POST", "/stats/prometheus"),
    ):
        body = b"" if method == "POST" else None
        request = urllib.request.Request(f"{stats}{path}", method=method, data=body)
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=5)
        assert caught.value.code == 404, (method, path)
    assert mesh.envoy.ready()
