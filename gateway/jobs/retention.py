"""Retention: jobs that ended more than JOBS_RETENTION_HOURS ago have their stored input and
result deleted and become `expired` (the record stays: GET says so, the result route answers
410). The worker sweeps on start and every JOBS_RETENTION_INTERVAL_SECONDS
(`housekeeping.py`); sweeps of several workers at once are harmless.

A sweep marks first and deletes after, so no reader ever finds a `succeeded` job without its
result; `expired_at` is set once the files are gone, and a sweep interrupted between the two
finishes the deletion next time.
"""

from datetime import datetime, timedelta

import structlog
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from paneas.gateway.jobs.models import jobs
from paneas.gateway.jobs.storage import Storage
from paneas.gateway.jobs.store import now

log = structlog.get_logger("paneas.jobs.retention")

EXPIRABLE = ("succeeded", "failed", "cancelled")
# A job whose webhook is still being retried keeps its status (the webhook says it) until the
# delivery ends, or this long past retention when its delivery was lost (Redis flushed).
PENDING_WEBHOOK_GRACE = timedelta(days=1)


async def sweep(
    engine: AsyncEngine, storage: Storage, retention_hours: float, at: datetime | None = None
) -> int:
    """Expires the jobs that ended before `retention_hours` ago; how many it expired."""
    at = at or now()
    cutoff = at - timedelta(hours=retention_hours)
    async with engine.begin() as connection:
        marked = await connection.execute(
            update(jobs)
            .where(
                jobs.c.status.in_(EXPIRABLE),
                jobs.c.finished_at < cutoff,
                or_(
                    jobs.c.webhook_state.is_(None),
                    jobs.c.webhook_state != "pending",
                    jobs.c.finished_at < cutoff - PENDING_WEBHOOK_GRACE,
                ),
            )
            .values(status="expired", expired_at=None)
        )
    async with engine.connect() as connection:
        ids = (
            (
                await connection.execute(
                    select(jobs.c.id).where(
                        and_(jobs.c.status == "expired", jobs.c.expired_at.is_(None))
                    )
                )
            )
            .scalars()
            .all()
        )
    for job_id in ids:
        await storage.delete_prefix(job_id)
        async with engine.begin() as connection:
            await connection.execute(
                update(jobs).where(jobs.c.id == job_id).values(expired_at=now())
            )
    if marked.rowcount:
        log.info("jobs expired", count=marked.rowcount, retention_hours=retention_hours)
    return marked.rowcount
