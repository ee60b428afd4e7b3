"""The job records in the gateway's database: created by the gateway, advanced by the
worker. Every change of status is a conditional UPDATE on the status it expects, so a
cancellation and a worker finishing at the same moment cannot both win, and a task delivered
twice cannot move a finished job."""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Row, and_, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from paneas.gateway.jobs.models import jobs
from paneas.gateway.migrations import upgrade_to_head

MIGRATIONS = Path(__file__).parent / "migrations"
# PostgreSQL advisory lock key of migrating the jobs schema (analytics uses another).
_MIGRATION_LOCK_KEY = 0x6A6F6273


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


async def upgrade_schema(engine: AsyncEngine) -> None:
    """Applies pending jobs migrations (their own Alembic version table)."""
    await upgrade_to_head(engine, MIGRATIONS, _MIGRATION_LOCK_KEY)


@dataclass
class JobStore:
    engine: AsyncEngine
    # Called with the job's record once it has ended (succeeded, failed, cancelled), by the
    # one caller whose change of status won: its webhook is queued and its metrics counted
    # (the worker's from `housekeeping.install`, the gateway's `JobQueue.notify_ended`).
    on_end: Callable[[Row], Awaitable[None]] | None = None

    async def _ended(self, job_id: str, moved: bool) -> bool:
        if moved and self.on_end is not None and (row := await self.get(job_id)) is not None:
            await self.on_end(row)
        return moved

    async def create(self, **values: object) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(insert(jobs).values(**values))

    async def get(self, job_id: str, owner: str | None = None) -> Row | None:
        """The job, or None when there is none or (with `owner`) it is someone else's."""
        query = select(jobs).where(jobs.c.id == job_id)
        if owner is not None:
            query = query.where(jobs.c.owner == owner)
        async with self.engine.connect() as connection:
            return (await connection.execute(query)).first()

    async def by_idempotency_key(self, owner: str, key: str, since: datetime) -> Row | None:
        """The owner's newest job created with `key` after `since`."""
        query = (
            select(jobs)
            .where(
                jobs.c.owner == owner,
                jobs.c.idempotency_key == key,
                jobs.c.created_at > since,
            )
            .order_by(jobs.c.created_at.desc())
            .limit(1)
        )
        async with self.engine.connect() as connection:
            return (await connection.execute(query)).first()

    async def page(
        self, owner: str, status: str | None, limit: int, after: Row | None
    ) -> tuple[Sequence[Row], bool]:
        """Up to `limit` of the owner's jobs, newest first, older than `after`; and whether
        there are more."""
        query = select(jobs).where(jobs.c.owner == owner)
        if status:
            query = query.where(jobs.c.status == status)
        if after is not None:
            # Ties in created_at are broken by id, the same order as the ORDER BY.
            query = query.where(
                or_(
                    jobs.c.created_at < after.created_at,
                    and_(jobs.c.created_at == after.created_at, jobs.c.id < after.id),
                )
            )
        query = query.order_by(jobs.c.created_at.desc(), jobs.c.id.desc()).limit(limit + 1)
        async with self.engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return rows[:limit], len(rows) > limit

    async def _move(self, job_id: str, from_statuses: Sequence[str], **values: object) -> bool:
        async with self.engine.begin() as connection:
            result = await connection.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.status.in_(from_statuses))
                .values(**values)
            )
        return result.rowcount > 0

    async def start(self, job_id: str) -> bool:
        """Queued -> running. A running job is started again: its task was delivered again
        because the worker that had it died (tasks are acknowledged at their end)."""
        return await self._move(
            job_id, ("queued", "running"), status="running", started_at=now(), progress=0.0
        )

    async def requeue(self, job_id: str) -> bool:
        """Running -> queued, to be tried again later (the service could not take it)."""
        return await self._move(job_id, ("running",), status="queued", progress=0.0)

    async def progress(self, job_id: str, progress: float, duration_seconds: float | None) -> bool:
        """False once the job is no longer running (cancelled)."""
        return await self._move(
            job_id,
            ("running",),
            progress=min(max(progress, 0.0), 1.0),
            duration_seconds=duration_seconds,
        )

    async def succeed(self, job_id: str, duration_seconds: float | None) -> bool:
        """Running -> succeeded; `duration_seconds` is the audio's (None for a document)."""
        moved = await self._move(
            job_id,
            ("running",),
            status="succeeded",
            progress=1.0,
            duration_seconds=duration_seconds,
            finished_at=now(),
        )
        return await self._ended(job_id, moved)

    async def fail(self, job_id: str, code: str, message: str) -> bool:
        moved = await self._move(
            job_id,
            ("queued", "running"),
            status="failed",
            error_code=code,
            error_message=message,
            finished_at=now(),
        )
        return await self._ended(job_id, moved)

    async def cancel(self, job_id: str) -> bool:
        moved = await self._move(
            job_id, ("queued", "running"), status="cancelled", finished_at=now()
        )
        return await self._ended(job_id, moved)

    async def status(self, job_id: str) -> str | None:
        async with self.engine.connect() as connection:
            return (
                await connection.execute(select(jobs.c.status).where(jobs.c.id == job_id))
            ).scalar()

    async def delete(self, job_id: str) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(delete(jobs).where(jobs.c.id == job_id))
