"""How an HTTP route calls a service: the one way, used by every hand-written route and every
transcoded one.

- `deadline`: the route's deadline, shortened by the client's `Grpc-Timeout`;
- `unary`: a unary call's response, the call cancelled (HTTP 499) if the client leaves first;
- `server_stream`: a server-streaming call whose first message is read before the route
  answers, so a request the service refuses gets its HTTP status and not a 200 that breaks
  off; then every message as it comes;
- `sse_response` / `ndjson_response`: those messages framed as server-sent events or as
  newline-delimited JSON; a failure after the status line went out ends the body with an
  error event, and however the body ends (done, failed, client gone) the call is cancelled,
  so the service stops working for nobody;
- usage (`gateway/usage.py`) is recorded from every response and every streamed message.

What the libraries already give, and why it is not enough on its own:

- sse-starlette's `EventSourceResponse` frames the events (`JSONServerSentEvent`: compact
  JSON, UTF-8 kept) and, when the client disconnects, cancels and closes the iterator it
  streams; it is used as it is. FastAPI's own SSE (`fastapi.sse`) is not used: it needs the
  path operation itself to be the generator, so its 200 is sent before the route could read
  the first message.
- Starlette notices a client that leaves only while a response is being sent
  (`request.is_disconnected()` polls once); while a unary call or a first message is awaited
  nothing is being sent, so `unless_disconnected` waits for either the call or the
  disconnect.
"""

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from sse_starlette import EventSourceResponse, JSONServerSentEvent, ServerSentEvent
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import StreamingResponse

from paneas.gateway.usage import record_response_usage

T = TypeVar("T")

# nginx's "client closed request"; nobody reads it, but logs and analytics do.
CLIENT_CLOSED_REQUEST = 499
NDJSON = "application/x-ndjson"

# Grpc-Timeout: an integer of at most 8 digits and a unit (gRPC over HTTP/2 spec).
_TIMEOUT = re.compile(r"^(\d{1,8})([HMSmun])$")
_UNIT_SECONDS = {"H": 3600, "M": 60, "S": 1, "m": 1e-3, "u": 1e-6, "n": 1e-9}


def deadline(request: Request, default: float) -> float:
    """The route's deadline (`default`, the server's), shortened by a `Grpc-Timeout` header
    when the client asks for less; never lengthened (a client could otherwise hold a backend
    worker for 99,999,999 hours). A malformed header is a 400 (HTTPException, which every
    route's error body renders)."""
    header = request.headers.get("grpc-timeout")
    if header is None:
        return default
    match = _TIMEOUT.match(header.strip())
    if match is None:
        raise HTTPException(
            400,
            f"Grpc-Timeout {header!r} is malformed; use an integer and a unit of "
            "H, M, S, m, u or n, e.g. '30S' or '500m'",
        )
    return min(default, int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


async def _disconnected(request: Request) -> None:
    # The body has been read by now, so the only message left to come is the disconnect.
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def unless_disconnected(request: Request, call: grpc.aio.Call, step: Awaitable[T]) -> T:
    """The result of `step` (the call itself, or a read of it); if the client disconnects
    first, the call is cancelled and the request ends with 499."""
    work = asyncio.ensure_future(step)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({work, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        call.cancel()
        work.cancel()
        raise
    finally:
        watcher.cancel()
        with contextlib.suppress(BaseException):
            await watcher
    if work.done():
        return work.result()
    call.cancel()
    work.cancel()
    with contextlib.suppress(BaseException):
        await work
    raise HTTPException(CLIENT_CLOSED_REQUEST, "the client closed the request")


async def unary(request: Request, call: grpc.aio.UnaryUnaryCall, rpc: str) -> Message:
    """The response of a unary call to `rpc` (its full name), usage recorded; a failed call
    raises its `grpc.aio.AioRpcError`."""
    response = await unless_disconnected(request, call, call)
    record_response_usage(request, rpc, response)
    return response


async def server_stream(
    request: Request, call: grpc.aio.UnaryStreamCall, rpc: str
) -> AsyncIterator[Message]:
    """Every message of a server-streaming call to `rpc`, the first one read before this
    returns: a call that fails before its first message raises its `grpc.aio.AioRpcError`
    here, while the route can still answer with any status. Usage is recorded from each
    message as it passes. The caller cancels `call` when done with it (`sse_response`,
    `ndjson_response` and `AudioStream` do)."""
    try:
        first = await unless_disconnected(request, call, call.read())
    except BaseException:
        call.cancel()
        raise

    async def messages() -> AsyncIterator[Message]:
        message = first
        while message is not grpc.aio.EOF:
            record_response_usage(request, rpc, message)
            yield message
            message = await call.read()

    return messages()


async def _ending(
    payloads: AsyncIterator[Any],
    call: grpc.aio.Call,
    error_payload: Callable[[grpc.aio.AioRpcError], Any],
    frame: Callable[[Any], Any],
) -> AsyncIterator[Any]:
    """`payloads` framed; a call that fails mid-stream (the status line is gone) ends the
    body with `error_payload`'s; however the body ends (done, failed, or the client gone,
    when the response cancels or closes this generator), the call is cancelled."""
    try:
        async for payload in payloads:
            yield frame(payload)
    except grpc.aio.AioRpcError as error:
        yield frame(error_payload(error))
    finally:
        call.cancel()


def _sse_event(payload: Any) -> ServerSentEvent:
    # An event the route framed itself passes as it is (chat's `data: [DONE]` is not JSON).
    return payload if isinstance(payload, ServerSentEvent) else JSONServerSentEvent(payload)


def sse_response(
    payloads: AsyncIterator[Any],
    call: grpc.aio.Call,
    error_payload: Callable[[grpc.aio.AioRpcError], Any],
    *,
    headers: dict[str, str] | None = None,
) -> EventSourceResponse:
    """Server-sent events: each payload as one `data:` line of JSON."""
    return EventSourceResponse(_ending(payloads, call, error_payload, _sse_event), headers=headers)


def _ndjson_line(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode() + b"\n"


def ndjson_response(
    payloads: AsyncIterator[Any],
    call: grpc.aio.Call,
    error_payload: Callable[[grpc.aio.AioRpcError], Any],
) -> StreamingResponse:
    """Newline-delimited JSON, one payload a line (grpc-gateway's streaming)."""
    return StreamingResponse(
        _ending(payloads, call, error_payload, _ndjson_line), media_type=NDJSON
    )
