"""`x-paneas-instance`: every response says which process served it.

Behind Envoy several instances serve one service (ASR: one per GPU); the header tells a
client, a test or a log reader which one answered, and that a session stuck to it. It goes
out in the initial metadata, merged with any the servicer sends itself (the LLM's
`x-paneas-model`), before the first response message, or at the end of a call that wrote
none.
"""

import inspect
from collections.abc import Callable
from typing import Any

import grpc

from paneas.services.runtime.handlers import Continuation

INSTANCE_KEY = "x-paneas-instance"


class _InstanceContext:
    """The call's context, but its initial metadata always carries the instance."""

    def __init__(self, context: grpc.aio.ServicerContext, instance: str) -> None:
        self._context = context
        self._instance = instance
        self._sent = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    async def send_initial_metadata(self, metadata) -> None:
        self._sent = True
        await self._context.send_initial_metadata(
            (*tuple(metadata or ()), (INSTANCE_KEY, self._instance))
        )

    async def ensure_sent(self) -> None:
        if not self._sent:
            await self.send_initial_metadata(())

    async def write(self, message: Any) -> None:
        await self.ensure_sent()
        await self._context.write(message)


def _unary_response(behavior: Callable, instance: Callable[[], str]) -> Callable:
    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
        proxy = _InstanceContext(context, instance())
        response = await behavior(request, proxy)
        if context.code() in (None, grpc.StatusCode.OK):
            await proxy.ensure_sent()
        return response

    return wrapped


def _stream_response(behavior: Callable, instance: Callable[[], str]) -> Callable:
    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> None:
        proxy = _InstanceContext(context, instance())
        result = behavior(request, proxy)
        if inspect.isasyncgen(result):  # not reached behind StreamWriterInterceptor
            async for response in result:
                await proxy.write(response)
        else:
            await result
        if context.code() in (None, grpc.StatusCode.OK):
            await proxy.ensure_sent()

    return wrapped


class InstanceInterceptor(grpc.aio.ServerInterceptor):
    """Outermost interceptor: everything inside sees the context that adds the header."""

    def __init__(self, instance: Callable[[], str]) -> None:
        self._instance = instance

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        serialisers = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        shape = (handler.request_streaming, handler.response_streaming)
        if shape == (False, False):
            return grpc.unary_unary_rpc_method_handler(
                _unary_response(handler.unary_unary, self._instance), **serialisers
            )
        if shape == (True, False):
            return grpc.stream_unary_rpc_method_handler(
                _unary_response(handler.stream_unary, self._instance), **serialisers
            )
        if shape == (False, True):
            return grpc.unary_stream_rpc_method_handler(
                _stream_response(handler.unary_stream, self._instance), **serialisers
            )
        return grpc.stream_stream_rpc_method_handler(
            _stream_response(handler.stream_stream, self._instance), **serialisers
        )
