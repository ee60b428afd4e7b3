"""What the jobs worker does besides jobs: the webhook delivery task, the metrics of the jobs
it ends, its /metrics, and a housekeeping thread that keeps its running job's heartbeat and
gives abandoned jobs back to the queue (`recovery.py`), reads the queue's gauges from the job
records and runs retention's sweep.

The thread, not Celery beat or a periodic task: beat is one more process to run (and to run
once only), and a periodic task would queue behind the jobs of a one-job-at-a-time worker for
as long as a long recording takes. The thread runs in the worker's pool process (the one that
serves /metrics, see `metrics.py`), beside the job it may be doing; its database work is a
few short queries.
"""

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable

import structlog
from celery import Celery, Task
from celery.signals import worker_process_init
from sqlalchemy import Row

from paneas.gateway.analytics.database import open_engine
from paneas.gateway.jobs import metrics, recovery, retention, webhooks
from paneas.gateway.jobs.queue import WEBHOOK, JobQueue
from paneas.gateway.jobs.settings import JobsSettings
from paneas.gateway.jobs.storage import open_storage
from paneas.gateway.jobs.store import JobStore

log = structlog.get_logger("paneas.jobs.housekeeping")


def install(app: Celery, settings: JobsSettings) -> Callable[[Row], Awaitable[None]]:
    """Registers the webhook task on the worker's app, and starts /metrics and the
    housekeeping thread in each pool process the worker starts. Returns the worker's
    `JobStore.on_end`: an ended job is counted and its webhook queued."""
    retries = settings.webhook_attempts - 1

    @app.task(name=WEBHOOK, bind=True, max_retries=retries, acks_late=True)
    def deliver_webhook(task: Task, job_id: str) -> None:
        final = task.request.retries >= retries
        outcome = asyncio.run(_deliver(job_id, settings, final))
        if outcome != "skipped":
            metrics.WEBHOOK_DELIVERIES.labels(outcome).inc()
        if outcome == "retried":
            countdown = webhooks.backoff_seconds(
                task.request.retries, settings.webhook_retry_base_seconds
            )
            raise task.retry(countdown=countdown)

    @worker_process_init.connect(weak=False)
    def start(**_: object) -> None:
        metrics.serve(settings.metrics_host, settings.metrics_port)
        threading.Thread(
            target=lambda: asyncio.run(_housekeep(settings, queue)),
            name="jobs-housekeeping",
            daemon=True,
        ).start()

    queue = JobQueue(settings, app)

    async def job_ended(row: Row) -> None:
        metrics.job_ended(row)
        await queue.notify_ended(row)

    return job_ended


async def _deliver(job_id: str, settings: JobsSettings, final: bool) -> str:
    engine = open_engine(settings.async_url())
    try:
        row = await JobStore(engine).get(job_id)
        if row is None:
            return "skipped"
        return await webhooks.deliver(engine, row, settings, final)
    finally:
        await engine.dispose()


async def _housekeep(settings: JobsSettings, queue: JobQueue) -> None:
    engine = open_engine(settings.async_url())
    storage = open_storage(settings)
    # This pool process's store: the heartbeat is of the jobs it runs.
    store = JobStore(engine, worker=recovery.worker_id())
    next_gauges = next_sweep = next_beat = time.monotonic()
    while True:
        if time.monotonic() >= next_beat:
            # First thing at start: a job its dead predecessor was running is queued again.
            await recovery.recover(store, queue, settings)
            next_beat = time.monotonic() + settings.worker_heartbeat_seconds
        if time.monotonic() >= next_gauges:
            try:
                await metrics.refresh_queue_gauges(engine)
            except Exception:
                log.exception("jobs gauges not read")
            next_gauges = time.monotonic() + settings.metrics_interval_seconds
        if time.monotonic() >= next_sweep:
            try:
                count = await retention.sweep(engine, storage, settings.retention_hours)
                metrics.EXPIRED.inc(count)
            except Exception:
                log.exception("retention sweep failed")
            next_sweep = time.monotonic() + settings.retention_interval_seconds
        await asyncio.sleep(max(min(next_beat, next_gauges, next_sweep) - time.monotonic(), 0.0))
