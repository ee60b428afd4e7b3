"""The gateway's one way to call a service (`gateway/calls.py`), in process with stand-in calls
and requests: the deadline from Grpc-Timeout, a call cancelled when its client leaves, the
first message read before the answer, and the framing of server-sent events and NDJSON. The
routes' tests against real services check the same through the wire."""

import asyncio
import json

import grpc
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sse_starlette import ServerSentEvent
from starlette.exceptions import HTTPException
from starlette.requests import Request

from paneas.gateway import calls
from paneas.gateway.errors import install_error_handlers
from paneas.gateway.usage import usage_of

RPC = "/test.v1.TestService/Stream"


def failure(code: grpc.StatusCode = grpc.StatusCode.INTERNAL, details: str = "boom"):
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


class FakeCall:
    """A gRPC call: `read()` gives `messages` in turn (an exception is raised instead of
    returned; None waits forever), then EOF; awaiting it gives `response`."""

    def __init__(self, messages=(), response=None, wait_forever=False) -> None:
        self._messages = list(messages)
        self._response = response
        self._wait_forever = wait_forever
        self.cancelled = False

    def cancel(self) -> bool:
        self.cancelled = True
        return True

    async def read(self):
        if not self._messages:
            return grpc.aio.EOF
        message = self._messages.pop(0)
        if message is None:
            await asyncio.Event().wait()
        if isinstance(message, BaseException):
            raise message
        return message

    def __await__(self):
        return self._result().__await__()

    async def _result(self):
        if self._wait_forever:
            await asyncio.Event().wait()
        if isinstance(self._response, BaseException):
            raise self._response
        return self._response


def request_with(headers: dict[str, str] | None = None, *, client_leaves: bool = False) -> Request:
    """A request whose body has been read; the next message is the client's disconnect if
    `client_leaves`, else none ever comes."""

    async def receive():
        if client_leaves:
            return {"type": "http.disconnect"}
        await asyncio.Event().wait()

    raw = [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    scope = {"type": "http", "method": "POST", "path": "/test", "headers": raw}
    return Request(scope, receive)


# --- deadline -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, 60.0),
        ("30S", 30.0),
        ("500m", 0.5),
        ("2M", 60.0),  # never longer than the server's
        ("1H", 60.0),
        ("250000u", 0.25),
        (" 5S ", 5.0),
    ],
)
def test_the_deadline_is_the_servers_shortened_by_grpc_timeout(header, expected):
    headers = {"grpc-timeout": header} if header is not None else {}
    assert calls.deadline(request_with(headers), 60.0) == pytest.approx(expected)


@pytest.mark.parametrize("header", ["30", "S", "30s", "123456789S", "1.5S", "-1S"])
def test_a_malformed_grpc_timeout_is_a_400_that_says_how_to_write_it(header):
    with pytest.raises(HTTPException) as raised:
        calls.deadline(request_with({"grpc-timeout": header}), 60.0)
    assert raised.value.status_code == 400
    assert repr(header) in raised.value.detail
    assert "'30S' or '500m'" in raised.value.detail


def test_a_malformed_grpc_timeout_answers_in_the_routes_own_error_body():
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/v1/audio/speech")
    @app.post("/api/v1/ocr")
    async def route(request: Request) -> dict:
        return {"deadline": calls.deadline(request, 60.0)}

    client = TestClient(app)
    openai = client.post("/v1/audio/speech", headers={"Grpc-Timeout": "soon"})
    assert openai.status_code == 400
    assert openai.json() == {
        "error": {
            "message": openai.json()["error"]["message"],
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }
    assert "Grpc-Timeout 'soon' is malformed" in openai.json()["error"]["message"]
    stack = client.post("/api/v1/ocr", headers={"Grpc-Timeout": "soon"})
    assert stack.status_code == 400
    assert stack.json()["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "Grpc-Timeout 'soon' is malformed" in stack.json()["message"]
    assert client.post("/api/v1/ocr", headers={"Grpc-Timeout": "2S"}).json() == {"deadline": 2}


# --- unary calls ------------------------------------------------------------------------------


async def test_a_unary_call_gives_its_response_and_records_usage():
    request = request_with()
    call = FakeCall(response="answer")
    assert await calls.unary(request, call, RPC) == "answer"
    assert usage_of(request).rpc == RPC
    assert not call.cancelled


async def test_a_unary_call_whose_client_leaves_is_cancelled_with_499():
    request = request_with(client_leaves=True)
    call = FakeCall(wait_forever=True)
    with pytest.raises(HTTPException) as raised:
        await asyncio.wait_for(calls.unary(request, call, RPC), timeout=5)
    assert raised.value.status_code == calls.CLIENT_CLOSED_REQUEST
    assert call.cancelled
    assert usage_of(request).rpc == ""


async def test_a_failed_unary_call_raises_its_error():
    call = FakeCall(response=failure(grpc.StatusCode.NOT_FOUND, "no such model"))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await calls.unary(request_with(), call, RPC)
    assert raised.value.code() is grpc.StatusCode.NOT_FOUND


async def test_a_route_cancelled_while_it_waits_cancels_its_call():
    call = FakeCall(wait_forever=True)
    waiting = asyncio.ensure_future(calls.unary(request_with(), call, RPC))
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert call.cancelled


# --- first message, then the stream -----------------------------------------------------------


async def test_the_stream_gives_the_first_message_and_the_rest_recording_usage():
    request = request_with()
    call = FakeCall(["one", "two", "three"])
    messages = await calls.server_stream(request, call, RPC)
    assert call._messages == ["two", "three"], "the first message is read before returning"
    assert [message async for message in messages] == ["one", "two", "three"]
    assert usage_of(request).rpc == RPC


async def test_a_stream_that_fails_before_its_first_message_raises_before_any_answer():
    call = FakeCall([failure(grpc.StatusCode.RESOURCE_EXHAUSTED, "busy")])
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await calls.server_stream(request_with(), call, RPC)
    assert raised.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert call.cancelled


async def test_a_client_that_leaves_before_the_first_message_cancels_the_stream():
    call = FakeCall([None])
    with pytest.raises(HTTPException) as raised:
        await asyncio.wait_for(
            calls.server_stream(request_with(client_leaves=True), call, RPC), timeout=5
        )
    assert raised.value.status_code == calls.CLIENT_CLOSED_REQUEST
    assert call.cancelled


# --- framing: server-sent events and NDJSON, through an app ------------------------------------


def streaming_app(call: FakeCall, framing: str) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/stream")
    async def stream(request: Request):
        messages = await calls.server_stream(request, call, RPC)

        async def payloads():
            async for message in messages:
                yield {"text": message}
            if framing == "sse":
                yield ServerSentEvent("[DONE]")

        def error_payload(error: grpc.aio.AioRpcError) -> dict:
            return {"error": error.details()}

        if framing == "sse":
            return calls.sse_response(payloads(), call, error_payload, headers={"x-served": "1"})
        return calls.ndjson_response(payloads(), call, error_payload)

    return TestClient(app)


def test_server_sent_events_are_compact_utf8_json_then_the_routes_own_events():
    call = FakeCall(["olá", "mundo"])
    response = streaming_app(call, "sse").post("/stream")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-served"] == "1"
    assert (
        response.content
        == (
            'data: {"text":"olá"}\r\n\r\ndata: {"text":"mundo"}\r\n\r\ndata: [DONE]\r\n\r\n'
        ).encode()
    )
    assert call.cancelled, "the call is cancelled once the stream is over"


def test_a_stream_that_fails_mid_way_ends_with_the_error_event_and_no_more():
    call = FakeCall(["first", failure(details="engine died")])
    response = streaming_app(call, "sse").post("/stream")
    assert response.status_code == 200
    events = [
        json.loads(line.removeprefix("data: "))
        for line in response.text.split("\r\n")
        if line.startswith("data: ")
    ]
    assert events == [{"text": "first"}, {"error": "engine died"}]
    assert call.cancelled


def test_a_stream_refused_before_its_first_message_gets_its_http_status():
    call = FakeCall([failure(grpc.StatusCode.RESOURCE_EXHAUSTED, "busy")])
    response = streaming_app(call, "sse").post("/stream")
    assert response.status_code == 429
    assert response.json()["message"] == "busy"


def test_ndjson_is_one_line_a_message_then_the_error_line():
    call = FakeCall(["a", "é", failure(details="lost")])
    response = streaming_app(call, "ndjson").post("/stream")
    assert response.status_code == 200
    assert response.headers["content-type"] == calls.NDJSON
    assert response.content == (b'{"text":"a"}\n{"text":"\\u00e9"}\n{"error":"lost"}\n')
    assert call.cancelled


@pytest.mark.parametrize("framing", ["sse", "ndjson"])
async def test_a_client_that_leaves_mid_stream_cancels_the_call(framing):
    """The first message goes out, the service is slow with the next, the client leaves."""
    call = FakeCall(["first", None])
    request = request_with()
    messages = await calls.server_stream(request, call, RPC)

    async def payloads():
        async for message in messages:
            yield {"text": message}

    def error_payload(error):
        return {"error": error.details()}

    if framing == "sse":
        response = calls.sse_response(payloads(), call, error_payload)
    else:
        response = calls.ndjson_response(payloads(), call, error_payload)
    sent: list[dict] = []
    first_body = asyncio.Event()

    async def send(message: dict) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and message.get("body"):
            first_body.set()

    async def receive() -> dict:
        await first_body.wait()
        return {"type": "http.disconnect"}

    scope = {"type": "http", "method": "POST", "path": "/stream", "headers": []}
    await asyncio.wait_for(response(scope, receive, send), timeout=5)
    assert any(b"first" in message.get("body", b"") for message in sent)
    assert call.cancelled
