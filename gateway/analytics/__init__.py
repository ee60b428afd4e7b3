"""Usage analytics: every served request becomes a row in a SQL database, off the request path.

See `install_analytics`.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import structlog
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from paneas.gateway.analytics.database import EventStore, open_engine, upgrade_schema
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
    app.state.analytics = Analytics(engine, recorder)
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
        await upgrade_schema(engine)
        recorder.start()
        log.info("analytics on", database=url.render_as_string(hide_password=True))
        try:
            async with app_lifespan(app) as state:
                yield state
        finally:
            await recorder.stop(settings.shutdown_timeout_seconds)
            await engine.dispose()

    app.router.lifespan_context = lifespan_with_analytics
