"""Every gRPC status maps to grpc-gateway's HTTP status, with a google.rpc.Status body."""

import grpc
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from paneas.gateway.errors import install_error_handlers

# runtime.HTTPStatusFromCode in grpc-gateway v2 (runtime/errors.go), written out independently.
GRPC_GATEWAY = {
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "UNAUTHENTICATED": 401,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
}


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/fail/{code}")
    async def fail(code: str) -> None:
        raise grpc.aio.AioRpcError(
            grpc.StatusCode[code], grpc.aio.Metadata(), grpc.aio.Metadata(), f"{code} happened"
        )

    @app.get("/api/v1/ocr/down")
    @app.get("/v1/chat/down")
    async def down() -> None:
        raise grpc.aio.AioRpcError(
            grpc.StatusCode.UNAVAILABLE,
            grpc.aio.Metadata(),
            grpc.aio.Metadata(),
            "no healthy upstream",
        )

    return TestClient(app)


@pytest.mark.parametrize("code, http_status", sorted(GRPC_GATEWAY.items()))
def test_status_maps_like_grpc_gateway(client, code, http_status):
    response = client.get(f"/fail/{code}")
    assert response.status_code == http_status
    assert response.json() == {
        "code": grpc.StatusCode[code].value[0],
        "message": f"{code} happened",
        "details": [],
    }


def test_unavailable_names_the_service_behind_the_route(client):
    response = client.get("/api/v1/ocr/down")
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == grpc.StatusCode.UNAVAILABLE.value[0]
    assert body["message"].startswith("the ocr service is unavailable")
    assert body["message"].endswith("no healthy upstream")
    # OpenAI routes: OpenAI's body, the same words.
    response = client.get("/v1/chat/down")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["type"] == "server_error"
    assert error["message"].startswith("the llm service is unavailable")
