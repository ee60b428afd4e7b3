"""Prometheus metrics of the jobs worker (`paneas_jobs_*`), on its own /metrics
(JOBS_METRICS_HOST:JOBS_METRICS_PORT, loopback :9455 by default).

Celery's prefork pool runs tasks in a child process, and a child's counters are not the
parent's: the child that runs the jobs serves /metrics itself (`serve`, from Celery's
`worker_process_init`). With one child per worker there is one set of series per worker; a
child replaced after a crash starts from zero, which Prometheus' rate() reads as a reset.

The queue's gauges (queued, running, oldest queued) are read from the job records, the truth
about jobs, not from Redis: every worker reports the same values, so alerts take their max.
"""

from datetime import datetime

import structlog
from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from paneas.gateway.jobs.models import jobs
from paneas.gateway.jobs.store import now
from paneas.services.runtime.metrics import LATENCY_BUCKETS, serve_metrics

log = structlog.get_logger("paneas.jobs.metrics")

disable_created_metrics()

# From a short clip (seconds) to a long recording on a busy CPU (hours).
JOB_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800)

QUEUED = Gauge("paneas_jobs_queued", "Jobs waiting for a worker (from the job records).")
RUNNING = Gauge("paneas_jobs_running", "Jobs being worked on now (from the job records).")
OLDEST_QUEUED = Gauge(
    "paneas_jobs_oldest_queued_seconds",
    "Age of the oldest queued job, seconds; 0 when none is queued.",
)
JOB_SECONDS = Histogram(
    "paneas_jobs_duration_seconds",
    "From a job's start on a worker to its end, by type and final status.",
    ["type", "status"],
    buckets=JOB_BUCKETS,
)
CHUNK_SECONDS = Histogram(
    "paneas_jobs_chunk_seconds",
    "Duration of one call to a service for a piece of a job (ASR, OCR), by type.",
    ["type"],
    buckets=LATENCY_BUCKETS + (600, 1800, 3600),
)
AUDIO_SECONDS = Counter(
    "paneas_jobs_audio_seconds_total", "Seconds of audio in jobs that succeeded.", ["type"]
)
ENDED = Counter("paneas_jobs_ended_total", "Jobs ended, by type and status.", ["type", "status"])
FAILURES = Counter(
    "paneas_jobs_failures_total", "Jobs failed, by reason (the job's error code).", ["reason"]
)
WEBHOOK_DELIVERIES = Counter(
    "paneas_jobs_webhook_deliveries_total",
    "Webhook delivery attempts, by outcome: delivered, retried (failed, another attempt "
    "follows), failed (failed, no attempt left), refused (target or secret not allowed).",
    ["outcome"],
)
EXPIRED = Counter("paneas_jobs_expired_total", "Jobs whose files retention deleted.")


def job_ended(row) -> None:
    """A job's end, from its record as it ended."""
    ENDED.labels(row.type, row.status).inc()
    if row.started_at is not None and row.finished_at is not None:
        elapsed = (row.finished_at - row.started_at).total_seconds()
        JOB_SECONDS.labels(row.type, row.status).observe(max(elapsed, 0.0))
    if row.status == "succeeded" and row.duration_seconds:
        AUDIO_SECONDS.labels(row.type).inc(row.duration_seconds)
    if row.status == "failed":
        FAILURES.labels(row.error_code or "unknown").inc()


async def refresh_queue_gauges(engine: AsyncEngine, at: datetime | None = None) -> None:
    query = select(jobs.c.status, func.count(), func.min(jobs.c.created_at)).where(
        jobs.c.status.in_(("queued", "running"))
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(query.group_by(jobs.c.status))).all()
    counts = {status: (count, oldest) for status, count, oldest in rows}
    queued, oldest = counts.get("queued", (0, None))
    QUEUED.set(queued)
    RUNNING.set(counts.get("running", (0, None))[0])
    OLDEST_QUEUED.set(max(((at or now()) - oldest).total_seconds(), 0.0) if oldest else 0.0)


def serve(host: str, port: int) -> int | None:
    """/metrics in a daemon thread; None when off (port 0) or the port is taken: the worker
    does its jobs without metrics rather than not at all."""
    if not port:
        return None
    try:
        bound = serve_metrics(host, port)
    except OSError as error:
        log.error("jobs metrics not served", host=host, port=port, error=str(error))
        return None
    log.info("jobs metrics", url=f"http://{host}:{bound}/metrics")
    return bound
