"""Cancelling a gRPC call when its HTTP client goes away, so an abandoned transcription
does not keep a worker busy until it finishes."""

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

import grpc
from starlette.exceptions import HTTPException
from starlette.requests import Request

T = TypeVar("T")

# nginx's "client closed request"; nobody reads it, but logs and analytics do.
CLIENT_CLOSED_REQUEST = 499


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
