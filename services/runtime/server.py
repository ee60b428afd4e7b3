"""One way to run a gRPC service: `GrpcService(...).run(...)` in every service's __main__.

The server listens at once with health NOT_SERVING, loads its models, then turns SERVING.
SIGTERM (or Ctrl-C) turns health NOT_SERVING, refuses new RPCs, lets in-flight ones finish
within the grace period, and exits.
"""

import asyncio
import signal
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry.instrumentation.grpc import aio_server_interceptor

from paneas.services.runtime import wire
from paneas.services.runtime.access_log import AccessLogInterceptor
from paneas.services.runtime.auth import (
    BearerAuthInterceptor,
    tokens_or_generated,
)
from paneas.services.runtime.handlers import Continuation, writing_handler
from paneas.services.runtime.instance import InstanceInterceptor
from paneas.services.runtime.logs import configure_logging
from paneas.services.runtime.metrics import MetricsInterceptor, serve_metrics
from paneas.services.runtime.reflection import enable_reflection
from paneas.services.runtime.settings import RuntimeSettings, ServerSettings
from paneas.services.runtime.tracing import configure_tracing

log = structlog.get_logger("paneas.runtime")

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class StreamWriterInterceptor(grpc.aio.ServerInterceptor):
    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        return None if handler is None else writing_handler(handler)


@dataclass(frozen=True)
class ServiceRegistration:
    """A servicer and how to add it: `ServiceRegistration(DESCRIPTOR name, add_fn, servicer)`."""

    full_name: str
    add_to_server: Callable[[Any, grpc.aio.Server], None]
    servicer: Any


class GrpcService:
    def __init__(
        self,
        name: str,
        server_settings: ServerSettings,
        runtime_settings: RuntimeSettings | None = None,
        health_servicer: health.aio.HealthServicer | None = None,
        reflected_services: Sequence[str] = (),
    ) -> None:
        """`health_servicer` replaces the standard one (the directory answers for the mesh);
        reflection lists `reflected_services` too, services served elsewhere whose
        descriptors this process has imported (the directory's, behind Envoy)."""
        self.name = name
        self.settings = server_settings
        self.runtime = runtime_settings or RuntimeSettings()
        self.health = health_servicer or health.aio.HealthServicer()
        self.reflected_services = list(reflected_services)
        self.port: int | None = None
        self.metrics_port: int | None = None
        self._server: grpc.aio.Server | None = None
        self._service_names: list[str] = []

    def _interceptors(self) -> list[grpc.aio.ServerInterceptor]:
        provider = configure_tracing(self.name, self.runtime.otel_exporter_otlp_endpoint)
        exempt = [wire.HEALTH_PREFIX]
        if self.runtime.auth_exempt_reflection:
            exempt.extend(wire.REFLECTION_PREFIXES)
        # Order matters: the instance header outermost, so every layer's context adds it;
        # then the writer that keeps streaming calls' cleanup in their own task; then
        # tracing, so logs and metrics of the call see its span.
        return [
            InstanceInterceptor(self.instance_name),
            StreamWriterInterceptor(),
            aio_server_interceptor(tracer_provider=provider),
            AccessLogInterceptor(quiet_prefixes=(wire.HEALTH_PREFIX, *wire.REFLECTION_PREFIXES)),
            MetricsInterceptor(),
            BearerAuthInterceptor(tokens_or_generated(self.runtime.api_tokens, self.name), exempt),
        ]

    def instance_name(self) -> str:
        """Which process this is (`<SVC>_INSTANCE`, else host:port), in `x-paneas-instance`."""
        return self.settings.instance or f"{socket.gethostname()}:{self.port}"

    async def start(self, registrations: Sequence[ServiceRegistration]) -> None:
        """Binds and starts serving with health NOT_SERVING for every service."""
        limit = self.runtime.grpc_max_message_bytes
        server = grpc.aio.server(
            interceptors=self._interceptors(),
            options=[
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", limit),
                ("grpc.so_reuseport", 0),
            ],
        )
        for registration in registrations:
            registration.add_to_server(registration.servicer, server)
        self._service_names = [r.full_name for r in registrations]
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        enable_reflection(
            [
                *self._service_names,
                *self.reflected_services,
                health.SERVICE_NAME,
                reflection.SERVICE_NAME,
            ],
            server,
        )
        address = f"{self.settings.host}:{self.settings.port}"
        self.port = server.add_insecure_port(address)
        if self.port == 0:
            raise RuntimeError(f"{self.name}: cannot listen on {address} (port in use?)")
        await self.set_serving(False)
        await server.start()
        self._server = server
        if self.settings.metrics_port:
            self.metrics_port = serve_metrics(self.settings.host, self.settings.metrics_port)
        log.info(
            "listening",
            grpc=f"{self.settings.host}:{self.port}",
            metrics_port=self.metrics_port,
            services=self._service_names,
        )

    async def set_serving(self, serving: bool) -> None:
        status = SERVING if serving else NOT_SERVING
        for service_name in ["", *self._service_names]:
            await self.health.set(service_name, status)

    async def stop(self) -> None:
        """Drains: NOT_SERVING, refuse new RPCs, wait for in-flight ones up to the grace."""
        await self.health.enter_graceful_shutdown()
        if self._server is not None:
            log.info("draining", grace_seconds=self.settings.shutdown_grace_seconds)
            await self._server.stop(self.settings.shutdown_grace_seconds)
            self._server = None
        log.info("stopped")

    async def run(
        self,
        registrations: Sequence[ServiceRegistration],
        load: Callable[[], Awaitable[None]] | None = None,
        close: Callable[[], None] | None = None,
    ) -> None:
        """Starts, loads, serves until SIGTERM/SIGINT, then drains. For `__main__` modules."""
        configure_logging(self.name, self.runtime.log_level, self.runtime.log_format)
        stop_requested = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop_requested.set)
        await self.start(registrations)
        try:
            if load is not None:
                loading = asyncio.ensure_future(load())
                waiting = asyncio.ensure_future(stop_requested.wait())
                await asyncio.wait({loading, waiting}, return_when=asyncio.FIRST_COMPLETED)
                waiting.cancel()
                if not loading.done():
                    loading.cancel()
                else:
                    loading.result()  # a failed load ends the process
            if not stop_requested.is_set():
                await self.set_serving(True)
                log.info("serving")
                await stop_requested.wait()
        finally:
            await self.stop()
            if close is not None:
                close()
