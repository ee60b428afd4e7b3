"""Interceptors for the gateway's gRPC channels: Prometheus client metrics and tracing."""

import asyncio
import time

import grpc
from opentelemetry.instrumentation.grpc import aio_client_interceptors
from prometheus_client import Counter, Histogram

from paneas.services.runtime.metrics import LATENCY_BUCKETS

CLIENT_HANDLED = Counter(
    "grpc_client_handled_total",
    "RPCs completed by the gateway as a client, by status code.",
    ["grpc_service", "grpc_method", "grpc_code"],
)
CLIENT_SECONDS = Histogram(
    "grpc_client_handling_seconds",
    "Time from starting an RPC to its completion, as the gateway sees it.",
    ["grpc_service", "grpc_method"],
    buckets=LATENCY_BUCKETS,
)


def _observer(method: str | bytes):
    name = method.decode() if isinstance(method, bytes) else method
    service, _, rpc = name.lstrip("/").partition("/")
    started = time.perf_counter()

    async def record(call: grpc.aio.Call, elapsed: float) -> None:
        code = grpc.StatusCode.CANCELLED if call.cancelled() else await call.code()
        CLIENT_SECONDS.labels(service, rpc).observe(elapsed)
        CLIENT_HANDLED.labels(service, rpc, code.name).inc()

    def done(call: grpc.aio.Call) -> None:
        # Done callbacks are plain functions, but an aio call's code() is a coroutine.
        asyncio.ensure_future(record(call, time.perf_counter() - started))

    return done


class _UnaryUnaryMetrics(grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation, client_call_details, request):
        call = await continuation(client_call_details, request)
        call.add_done_callback(_observer(client_call_details.method))
        return call


class _CancelUnaryWithItsCaller(grpc.aio.UnaryUnaryClientInterceptor):
    """OpenTelemetry's unary interceptor awaits the whole RPC inside grpc's interceptor
    task, so `call.cancel()` only cancels that task and the RPC itself runs on to its end
    (a disconnected client's generation or transcription would keep the backend busy). This
    one runs inside that task and cancels the RPC when the task is cancelled."""

    async def intercept_unary_unary(self, continuation, client_call_details, request):
        call = await continuation(client_call_details, request)
        task = asyncio.current_task()
        if task is not None:
            task.add_done_callback(lambda done: call.cancel() if done.cancelled() else None)
        return call


class _UnaryStreamMetrics(grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation, client_call_details, request):
        call = await continuation(client_call_details, request)
        call.add_done_callback(_observer(client_call_details.method))
        return call


class _StreamStreamMetrics(grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation, client_call_details, request_iterator):
        call = await continuation(client_call_details, request_iterator)
        call.add_done_callback(_observer(client_call_details.method))
        return call


def client_interceptors() -> list[grpc.aio.ClientInterceptor]:
    # Tracing first so the metrics interceptor's call runs inside the client span.
    return [
        *aio_client_interceptors(),
        _CancelUnaryWithItsCaller(),
        _UnaryUnaryMetrics(),
        _UnaryStreamMetrics(),
        _StreamStreamMetrics(),
    ]
