"""Usage analytics: every served request becomes a row in a SQL database, off the request path.

See `install_analytics`.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import structlog
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from paneas.gateway.analytics.database import EventStore, migrate_until_done, open_engine
from paneas.gateway.analytics.middleware import AnalyticsMiddleware
from paneas.gateway.analytics.recorder import UsageRecorder
from paneas.gateway.analytics.settings import AnalyticsSettings
from paneas.gateway.routers import analytics as analytics_router

log = structlog.get_logger("paneas.gateway.analytics")


@dataclass
class Analytics:
    """What the analytics route and the lifespan need, kept on `app.state.analytics`."""

    engine: AsyncEngine
    recorder: UsageRecorder
    # Widest window the analytics route summarises (ANALYTICS_MAX_WINDOW_DAYS).
    max_window: timedelta


def install_analytics(app: FastAPI) -> None:
    """Adds the recording middleware and GET /api/v1/analytics as `AnalyticsSettings` says,
    and wraps the app's lifespan: migrations and the writer start before it, and queued
    events are flushed after it.

    Needs `app.state.api_tokens` (events name callers by a hash of their valid token).
    """
    settings = AnalyticsSettings()
    if not settings.enabled:
        log.info("analytics off (ANALYTICS_ENABLED=false)")
        return
    url = settings.async_url()
    engine = open_engine(url)
    recorder = UsageRecorder(
        EventStore(engine).insert,
        settings.queue_size,
        settings.batch_size,
        settings.flush_interval_seconds,
    )
    app.state.analytics = Analytics(engine, recorder, timedelta(days=settings.max_window_days))
    app.include_router(analytics_router.router)
    app.add_middleware(
        AnalyticsMiddleware,
        recorder=recorder,
        routes=app.router.routes,
        tokens=app.state.api_tokens,
    )
    app_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan_with_analytics(app: FastAPI) -> AsyncIterator[object]:
        # The database is not on the serving path: the gateway starts and serves while it is
        # down, migrating in the background until it answers; meanwhile events queue (and,
        # once the queue is full, are dropped and counted).
        recorder.start(until_ready=migrate_until_done(engine, settings.migration_retry_seconds))
        log.info("analytics on", database=url.render_as_string(hide_password=True))
        try:
            async with app_lifespan(app) as state:
                yield state
        finally:
            await recorder.stop(settings.shutdown_timeout_seconds)
            await engine.dispose()

    app.router.lifespan_context = lifespan_with_analytics
