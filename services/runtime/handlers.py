"""Wraps the behaviour of any gRPC method handler, whatever its streaming shape.

Interceptors that must see each call's outcome (metrics, access logs) need the code to run
inside the RPC's own task; grpc.aio only lets them do that by replacing the handler.
"""

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, aclosing, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc

# What a grpc.aio server interceptor calls to get the next handler.
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]]

# Called once per RPC; the returned context manager brackets the servicer method.
Around = Callable[[grpc.aio.ServicerContext], AbstractAsyncContextManager[Any]]


def _around_unary_response(behavior: Callable, around: Around) -> Callable:
    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
        async with around(context):
            return await behavior(request, context)

    return wrapped


def _around_stream_response(behavior: Callable, around: Around) -> Callable:
    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async with around(context):
            result = behavior(request, context)
            if inspect.isasyncgen(result):
                # Closed here, not whenever the garbage collector gets to it: a cancelled
                # call's generator must clean up while the call still exists.
                async with aclosing(result):
                    async for response in result:
                        yield response
            else:  # a coroutine that writes with context.write()
                await result

    return wrapped


def wrap_handler(handler: grpc.RpcMethodHandler, around: Around) -> grpc.RpcMethodHandler:
    shape = (handler.request_streaming, handler.response_streaming)
    serialisers = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if shape == (False, False):
        wrapped = _around_unary_response(handler.unary_unary, around)
        return grpc.unary_unary_rpc_method_handler(wrapped, **serialisers)
    if shape == (True, False):
        wrapped = _around_unary_response(handler.stream_unary, around)
        return grpc.stream_unary_rpc_method_handler(wrapped, **serialisers)
    if shape == (False, True):
        wrapped = _around_stream_response(handler.unary_stream, around)
        return grpc.unary_stream_rpc_method_handler(wrapped, **serialisers)
    wrapped = _around_stream_response(handler.stream_stream, around)
    return grpc.stream_stream_rpc_method_handler(wrapped, **serialisers)


def _writing_stream_response(behavior: Callable) -> Callable:
    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> None:
        result = behavior(request, context)
        if not inspect.isasyncgen(result):
            await result
            return
        async with aclosing(result):
            async for response in result:
                await context.write(response)

    return wrapped


def writing_handler(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """Drives a response-streaming handler from a coroutine that writes each response.

    grpc.aio iterates an async-generator handler itself and, when the client cancels while
    it is between two responses, leaves the generator to the garbage collector: its
    `finally` blocks then run later, in another task and context (OpenTelemetry fails to
    detach its context, cleanup sees a dead call). Written from a coroutine, cancellation
    unwinds every wrapped generator in the call's own task, at once.
    """
    serialisers = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.request_streaming and handler.response_streaming:
        behavior = _writing_stream_response(handler.stream_stream)
        return grpc.stream_stream_rpc_method_handler(behavior, **serialisers)
    if handler.response_streaming:
        behavior = _writing_stream_response(handler.unary_stream)
        return grpc.unary_stream_rpc_method_handler(behavior, **serialisers)
    return handler


def rejecting_handler(
    handler: grpc.RpcMethodHandler, code: grpc.StatusCode, details: str
) -> grpc.RpcMethodHandler:
    """A handler of the same shape as `handler` that fails every call with `code`."""

    @asynccontextmanager
    async def reject(context: grpc.aio.ServicerContext):
        await context.abort(code, details)
        yield

    return wrap_handler(handler, reject)


def status_of(context: grpc.aio.ServicerContext, error: BaseException | None) -> grpc.StatusCode:
    """The status code a call ended with, from its context and the exception it raised."""
    if error is None or isinstance(error, grpc.aio.AbortError):
        code = context.code()
        if code is None:
            return grpc.StatusCode.OK
        return code if isinstance(code, grpc.StatusCode) else _CODES_BY_VALUE[code]
    if isinstance(error, (GeneratorExit, asyncio.CancelledError)):
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN


_CODES_BY_VALUE = {code.value[0]: code for code in grpc.StatusCode}


@dataclass(frozen=True)
class RpcOutcome:
    code: grpc.StatusCode
    elapsed_seconds: float
    # What the servicer raised, if anything (an abort raises too).
    error: BaseException | None


@asynccontextmanager
async def outcome_of(
    context: grpc.aio.ServicerContext, on_done: Callable[[RpcOutcome], None]
) -> AsyncIterator[None]:
    """Brackets a servicer call and reports how it ended, whichever way it ended."""
    started = time.perf_counter()
    error: BaseException | None = None
    try:
        yield
    except BaseException as exc:
        error = exc
        raise
    finally:
        on_done(RpcOutcome(status_of(context, error), time.perf_counter() - started, error))
