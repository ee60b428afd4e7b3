"""Durable jobs for long recordings (`/api/v1/jobs`): the gateway stores the upload, records
the job and queues its id (Celery on Redis); the worker (`python -m paneas.gateway.jobs`,
`worker.py`) does it and keeps the record current. The record in the gateway's database is
the truth about a job; the queue only says which job to run next. See `install_jobs`.
"""

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from paneas.gateway.analytics.database import open_engine
from paneas.gateway.errors import http_error_response
from paneas.gateway.jobs.queue import JobQueue
from paneas.gateway.jobs.serving import Jobs, JobsError
from paneas.gateway.jobs.settings import JobsSettings
from paneas.gateway.jobs.storage import open_storage
from paneas.gateway.jobs.store import JobStore, upgrade_schema
from paneas.gateway.routers import jobs as jobs_router

log = structlog.get_logger("paneas.gateway.jobs")

ROUTE_PREFIX = "/api/v1/jobs"


def install_jobs(app: FastAPI, settings: JobsSettings) -> None:
    """Adds the jobs routes and wraps the app's lifespan: the jobs schema is migrated before
    the gateway serves, and the engine and the queue's connections are closed after."""
    if not settings.broker_url:
        raise ValueError("JOBS_ENABLED=true needs JOBS_BROKER_URL (redis://host:port/0)")
    url = settings.async_url()
    engine = open_engine(url)
    queue = JobQueue(settings)
    # A job cancelled here has ended: its webhook is queued from here.
    store = JobStore(engine, on_end=queue.notify_ended)
    app.state.jobs = Jobs(store, open_storage(settings), queue, settings, app.state.settings)
    app.add_exception_handler(JobsError, _jobs_error)
    app.include_router(jobs_router.router)
    app_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan_with_jobs(app: FastAPI) -> AsyncIterator[object]:
        await upgrade_schema(engine)
        log.info("jobs on", database=url.render_as_string(hide_password=True))
        try:
            async with app_lifespan(app) as state:
                yield state
        finally:
            app.state.jobs.queue.close()
            await engine.dispose()

    app.router.lifespan_context = lifespan_with_jobs


async def _jobs_error(request: Request, error: JobsError) -> JSONResponse:
    """A refusal of the jobs API, with its HTTP status, as every HTTPException."""
    headers = None
    if error.retry_after is not None:
        headers = {"Retry-After": str(max(1, math.ceil(error.retry_after)))}
    return http_error_response(
        request.url.path, HTTPException(error.http_status, str(error), headers)
    )
