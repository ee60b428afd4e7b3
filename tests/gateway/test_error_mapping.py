"""Every gRPC status maps to grpc-gateway's HTTP status, with a google.rpc.Status body (OpenAI's
on the OpenAI routes); overloads say when to retry; refusals the gateway makes itself look the
same."""

import grpc
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.exceptions import HTTPException

from paneas.gateway.asr.stream import _instance_lost
from paneas.gateway.errors import (
    grpc_error_message,
    grpc_error_response,
    install_error_handlers,
    retry_after_seconds,
)
from paneas.services.runtime import wire

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


def refusal(code: str, *trailing: tuple[str, str]) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(
        grpc.StatusCode[code], grpc.aio.Metadata(), grpc.aio.Metadata(*trailing), "refused"
    )


@pytest.mark.parametrize(
    "trailing, seconds",
    [
        # The services' milliseconds, rounded up to whole seconds, at least one.
        ([(wire.RETRY_AFTER_MS, "2001")], 3),
        ([(wire.RETRY_AFTER_MS, "1")], 1),
        # Seconds, as other gRPC servers send them.
        ([("retry-after", "4")], 4),
        # None, or one that cannot be read: one second.
        ([], 1),
        ([(wire.RETRY_AFTER_MS, "soon")], 1),
    ],
)
def test_an_overload_says_when_to_retry(trailing, seconds):
    assert retry_after_seconds(refusal("RESOURCE_EXHAUSTED", *trailing)) == seconds
    response = grpc_error_response("/api/v1/ocr", refusal("RESOURCE_EXHAUSTED", *trailing))
    assert response.status_code == 429
    assert response.headers["retry-after"] == str(seconds)


@pytest.mark.parametrize("code", ["OUT_OF_RANGE", "INVALID_ARGUMENT", "UNAVAILABLE"])
def test_only_an_overload_invites_a_retry(code):
    trailing = (wire.RETRY_AFTER_MS, "2000")
    assert retry_after_seconds(refusal(code, trailing)) is None
    assert "retry-after" not in grpc_error_response("/api/v1/ocr", refusal(code, trailing)).headers


def test_an_unavailable_the_service_classified_keeps_its_own_message():
    # The LLM answered "every engine failed": its words, not "the llm service is unavailable".
    answered = refusal("UNAVAILABLE", (wire.ERROR_CODE, "engine_unavailable"))
    assert grpc_error_message(answered, "llm") == "refused"
    assert grpc_error_message(refusal("UNAVAILABLE"), "llm").startswith(
        "the llm service is unavailable"
    )


def test_the_gateways_own_refusals_speak_each_routes_body():
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/api/v1/ocr")
    @app.post("/v1/audio/transcriptions")
    async def upload() -> None:
        raise HTTPException(413, "the body is over GATEWAY_MAX_BODY_BYTES")

    client = TestClient(app)
    native = client.post("/api/v1/ocr")
    assert native.status_code == 413
    assert native.json() == {
        "code": grpc.StatusCode.RESOURCE_EXHAUSTED.value[0],
        "message": "the body is over GATEWAY_MAX_BODY_BYTES",
        "details": [],
    }
    openai = client.post("/v1/audio/transcriptions")
    assert openai.status_code == 413
    assert openai.json() == {
        "error": {
            "message": "the body is over GATEWAY_MAX_BODY_BYTES",
            "type": "invalid_request_error",
            "param": None,
            "code": "request_too_large",
        }
    }


@pytest.mark.parametrize(
    "code, details, lost",
    [
        ("INTERNAL", "Received RST_STREAM with error code 2", True),
        ("INTERNAL", "Internal error from Core", True),
        ("INTERNAL", "the stream's decoder failed (ValueError: x); open a new stream", False),
        (
            "UNAVAILABLE",
            "upstream connect error or disconnect/reset before headers. reset reason: "
            "connection termination",
            True,
        ),
        ("UNAVAILABLE", "no healthy upstream", False),
        ("RESOURCE_EXHAUSTED", "no free decode slot", False),
    ],
)
def test_a_live_stream_cut_by_its_instance_is_told_from_a_refusal(code, details, lost):
    error = grpc.aio.AioRpcError(
        grpc.StatusCode[code], grpc.aio.Metadata(), grpc.aio.Metadata(), details
    )
    assert _instance_lost(error, "") is lost
