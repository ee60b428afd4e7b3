"""Prometheus metrics for gRPC servers, named as go-grpc-prometheus names them so existing
dashboards and alerts work unchanged."""

from contextlib import AbstractAsyncContextManager

import grpc
from prometheus_client import (
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)

from paneas.services.runtime.handlers import Continuation, RpcOutcome, outcome_of, wrap_handler

# From a millisecond (a cheap hop) to minutes (a long OCR job or transcription).
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    120,
    300,
)

# `*_created` series double the payload and no dashboard of ours reads them.
disable_created_metrics()

STARTED = Counter(
    "grpc_server_started_total",
    "RPCs started on the server.",
    ["grpc_type", "grpc_service", "grpc_method"],
)
HANDLED = Counter(
    "grpc_server_handled_total",
    "RPCs completed on the server, by status code.",
    ["grpc_type", "grpc_service", "grpc_method", "grpc_code"],
)
HANDLING_SECONDS = Histogram(
    "grpc_server_handling_seconds",
    "Time from the start of an RPC to its completion.",
    ["grpc_type", "grpc_service", "grpc_method"],
    buckets=LATENCY_BUCKETS,
)
IN_FLIGHT = Gauge(
    "grpc_server_in_flight",
    "RPCs in progress on the server.",
    ["grpc_service", "grpc_method"],
)

_TYPES = {
    (False, False): "unary",
    (True, False): "client_stream",
    (False, True): "server_stream",
    (True, True): "bidi_stream",
}


def split_method(full_method: str) -> tuple[str, str]:
    """'/pkg.Service/Method' -> ('pkg.Service', 'Method')."""
    service, _, method = full_method.lstrip("/").partition("/")
    return service, method


class MetricsInterceptor(grpc.aio.ServerInterceptor):
    async def intercept_service(
        self,
        continuation: Continuation,
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        service, method = split_method(handler_call_details.method)
        rpc_type = _TYPES[(handler.request_streaming, handler.response_streaming)]

        def observe(context: grpc.aio.ServicerContext) -> AbstractAsyncContextManager[None]:
            STARTED.labels(rpc_type, service, method).inc()
            in_flight = IN_FLIGHT.labels(service, method)
            in_flight.inc()

            def done(outcome: RpcOutcome) -> None:
                in_flight.dec()
                HANDLING_SECONDS.labels(rpc_type, service, method).observe(outcome.elapsed_seconds)
                HANDLED.labels(rpc_type, service, method, outcome.code.name).inc()

            return outcome_of(context, done)

        return wrap_handler(handler, observe)


def serve_metrics(host: str, port: int) -> int:
    """Serves /metrics over HTTP in a daemon thread; returns the bound port."""
    server, _thread = start_http_server(port, addr=host)
    return server.server_port
