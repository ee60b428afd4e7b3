"""Bearer tokens guard gRPC and REST alike."""

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from paneas.ocr.v1 import ocr_pb2, ocr_pb2_grpc

pytestmark = pytest.mark.backends("ocr")


@pytest.mark.parametrize(
    "metadata, reason",
    [
        ((), "missing bearer token"),
        ((("authorization", "Bearer not-the-token"),), "invalid bearer token"),
        ((("authorization", "Basic dXNlcjpwYXNz"),), "missing bearer token"),
    ],
)
def test_grpc_rejects_without_a_valid_token(ocr_channel, metadata, reason):
    stub = ocr_pb2_grpc.OcrServiceStub(ocr_channel)
    with pytest.raises(grpc.RpcError) as error:
        stub.ListEngines(ocr_pb2.ListEnginesRequest(), metadata=metadata, timeout=10)
    assert error.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert reason in error.value.details()


def test_grpc_accepts_a_valid_token(ocr_channel, auth_metadata):
    reply = ocr_pb2_grpc.OcrServiceStub(ocr_channel).ListEngines(
        ocr_pb2.ListEnginesRequest(), metadata=auth_metadata, timeout=10
    )
    assert reply.default_engine == ocr_pb2.ENGINE_TESSERACT


def test_grpc_health_needs_no_token(ocr_channel):
    # Load balancers and orchestrators probe health without credentials.
    reply = health_pb2_grpc.HealthStub(ocr_channel).Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Token abc"])
def test_rest_rejects_without_a_valid_token(gateway, header):
    headers = {"Authorization": header} if header else {}
    response = httpx.post(
        f"{gateway.url}/api/v1/ocr", headers=headers, files={"file": ("a.png", b"x")}
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["code"] == grpc.StatusCode.UNAUTHENTICATED.value[0]


def test_rest_health_is_open(gateway):
    assert httpx.get(f"{gateway.url}/api/v1/health").status_code == 200
