"""Binds a request id to every RPC's logs and writes one access-log line per RPC."""

import uuid
from contextlib import AbstractAsyncContextManager

import grpc
import structlog

from paneas.services.runtime import wire
from paneas.services.runtime.handlers import Continuation, RpcOutcome, outcome_of, wrap_handler

log = structlog.get_logger("paneas.access")


def request_id_from(metadata: tuple | None) -> str:
    for key, value in metadata or ():
        if key == wire.REQUEST_ID and isinstance(value, str) and 0 < len(value) <= 128:
            return value
    return uuid.uuid4().hex


class AccessLogInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, quiet_prefixes: tuple[str, ...] = ()) -> None:
        # Health checks arrive every second or so; logging each would drown the rest.
        self._quiet = quiet_prefixes

    async def intercept_service(
        self,
        continuation: Continuation,
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(self._quiet):
            return handler
        method = handler_call_details.method
        request_id = request_id_from(handler_call_details.invocation_metadata)

        def logged(context: grpc.aio.ServicerContext) -> AbstractAsyncContextManager[None]:
            structlog.contextvars.bind_contextvars(request_id=request_id, rpc=method)
            # Read now: asking a call that the client cancelled for its peer crashes grpcio
            # (a null dereference in cygrpc).
            peer = context.peer()

            def done(outcome: RpcOutcome) -> None:
                fields = {
                    "code": outcome.code.name,
                    "duration_ms": round(outcome.elapsed_seconds * 1000, 2),
                    "peer": peer,
                }
                if outcome.code is not grpc.StatusCode.OK and context.details():
                    fields["details"] = context.details()
                if outcome.code is grpc.StatusCode.UNKNOWN and outcome.error is not None:
                    log.error("rpc", **fields, exc_info=outcome.error)
                else:
                    log.info("rpc", **fields)

            return outcome_of(context, done)

        return wrap_handler(handler, logged)
