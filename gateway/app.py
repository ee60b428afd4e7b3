"""The gateway's FastAPI application factory."""

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware

from paneas.gateway.analytics import install_analytics
from paneas.gateway.asr.tickets import TicketBook
from paneas.gateway.auth import AuthenticationMiddleware
from paneas.gateway.backends import Backends
from paneas.gateway.body_limit import BodySizeLimitMiddleware, PathLimit
from paneas.gateway.errors import install_error_handlers
from paneas.gateway.jobs import ROUTE_PREFIX as JOBS_ROUTES
from paneas.gateway.jobs import install_jobs
from paneas.gateway.jobs.settings import JobsSettings
from paneas.gateway.openai.realtime.router import router as openai_realtime_router
from paneas.gateway.rate_limit import install_rate_limiting
from paneas.gateway.routers import (
    asr,
    asr_stream,
    health,
    metrics,
    ocr,
    openai_audio,
    openai_chat,
    openai_speech,
    tts,
)
from paneas.gateway.settings import GatewaySettings
from paneas.gateway.shutdown import LiveStreams
from paneas.gateway.telemetry import RequestTelemetryMiddleware
from paneas.gateway.transcoding.routes import install_transcoded_routes
from paneas.gateway.tts.voices import VoiceCatalogue
from paneas.gateway.ui import install_ui
from paneas.services.runtime.auth import tokens_or_generated
from paneas.services.runtime.settings import RuntimeSettings
from paneas.services.runtime.tracing import configure_tracing


def create_app(
    settings: GatewaySettings | None = None, runtime: RuntimeSettings | None = None
) -> FastAPI:
    settings = settings or GatewaySettings()
    runtime = runtime or RuntimeSettings()
    jobs = JobsSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.backends = Backends(settings, runtime.grpc_max_message_bytes)
        try:
            yield
        finally:
            await app.state.backends.close()

    app = FastAPI(
        title="Paneas Stack",
        version="0.1.0",
        description="REST and OpenAI-compatible front door to the Paneas gRPC services.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.api_tokens = tokens_or_generated(runtime.api_tokens, "gateway")
    app.state.live_streams = LiveStreams(settings.asr_stream_drain_seconds)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(metrics.router)
    # A service whose target is empty is not deployed: its routes are not offered.
    if settings.ocr_target:
        app.include_router(ocr.router)
    if settings.asr_target:
        # Replicas must share GATEWAY_TICKET_SECRET for a ticket to work on any of them.
        secret = settings.ticket_secret.encode() or secrets.token_bytes(32)
        app.state.tickets = TicketBook(secret, settings.ticket_ttl_seconds)
        app.include_router(openai_audio.router)
        app.include_router(asr.router)
        app.include_router(asr_stream.router)
        app.include_router(openai_realtime_router)
    # Jobs transcribe recordings or read documents: either service is enough.
    if jobs.enabled and (settings.asr_target or settings.ocr_target):
        install_jobs(app, jobs)
    if settings.llm_target:
        app.include_router(openai_chat.router)
    if settings.tts_target:
        app.state.tts_voices = VoiceCatalogue()
        app.include_router(openai_speech.router)
        app.include_router(tts.router)
    install_transcoded_routes(app, settings)
    install_ui(app)

    # Middleware: each one added wraps all added before it, so the last added runs first.
    # Authentication is innermost so that its 401s are counted by the limiter (an invalid
    # token must not buy unlimited attempts) and recorded by analytics; it still answers
    # before any route reads the body. Analytics wraps the limiter so that 429s are
    # recorded too.
    app.add_middleware(
        AuthenticationMiddleware, routes=app.router.routes, tokens=app.state.api_tokens
    )
    install_rate_limiting(app)
    install_analytics(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            allow_credentials=False,
        )
    # Recordings for jobs are far bigger than any other request.
    path_limits = (
        [PathLimit(JOBS_ROUTES, jobs.max_upload_bytes, "JOBS_MAX_UPLOAD_BYTES")]
        if jobs.enabled
        else []
    )
    app.add_middleware(
        BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes, path_limits=path_limits
    )
    # Streamed NDJSON must reach the client line by line, not in compressed blocks.
    app.add_middleware(
        GZipMiddleware,
        minimum_size=1024,
        exclude_content_types=(*DEFAULT_EXCLUDED_CONTENT_TYPES, "application/x-ndjson"),
    )
    app.add_middleware(RequestTelemetryMiddleware)
    # Outermost: the request's span is current for everything inside, logs included.
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=configure_tracing("gateway", runtime.otel_exporter_otlp_endpoint),
        excluded_urls="/metrics,/api/v1/health",
    )
    return app
