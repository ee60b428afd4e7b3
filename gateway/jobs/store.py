"""The job records in the gateway's database: created by the gateway, advanced by the
worker. Every change of status is a conditional UPDATE on the status it expects, so a
cancellation and a worker finishing at the same moment cannot both win, and a task delivered
twice cannot move a finished job."""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import ColumnElement, Row, and_, delete, insert, or_, select, update
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
    # The worker process this store acts for (`recovery.worker_id`), None in the gateway. A
    # worker moves only the running jobs it owns: one whose job was given to another worker
    # (taken for dead, `recovery.py`) finds its progress and its end refused, and stops.
    worker: str | None = None

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

    def _in(self, from_statuses: Sequence[str]) -> ColumnElement[bool]:
        """In one of these statuses; `running` only as this store's worker's job."""
        statuses = [status for status in from_statuses if status != "running"]
        condition = jobs.c.status.in_(statuses)
        if "running" in from_statuses:
            running = jobs.c.status == "running"
            if self.worker is not None:
                running = and_(running, jobs.c.worker == self.worker)
            condition = or_(condition, running)
        return condition

    async def _move(
        self,
        job_id: str,
        from_statuses: Sequence[str],
        **values: object,
    ) -> bool:
        async with self.engine.begin() as connection:
            result = await connection.execute(
                update(jobs).where(jobs.c.id == job_id, self._in(from_statuses)).values(**values)
            )
        return result.rowcount > 0

    async def start(self, job: Row) -> bool:
        """Queued -> running, as this store's worker's job. A job still `running` is taken
        over only from the worker the caller found gone (`job.worker`, see `recovery.py`):
        its task was delivered again because that worker died (tasks are acknowledged at
        their end). False when another worker got it first."""
        if job.status == "running":
            owner = jobs.c.worker.is_(None) if job.worker is None else jobs.c.worker == job.worker
            condition = and_(jobs.c.status == "running", owner)
        else:
            condition = jobs.c.status == "queued"
        async with self.engine.begin() as connection:
            result = await connection.execute(
                update(jobs)
                .where(jobs.c.id == job.id, condition)
                .values(
                    status="running",
                    started_at=now(),
                    progress=0.0,
                    worker=self.worker,
                    heartbeat_at=now(),
                )
            )
        return result.rowcount > 0

    async def requeue(self, job_id: str) -> bool:
        """Running -> queued, to be tried again later (the service could not take it)."""
        return await self._move(
            job_id, ("running",), status="queued", progress=0.0, worker=None, heartbeat_at=None
        )

    async def heartbeat(self) -> int:
        """This store's worker is alive: the running jobs it owns say so (`recovery.py`)."""
        async with self.engine.begin() as connection:
            result = await connection.execute(
                update(jobs)
                .where(jobs.c.status == "running", jobs.c.worker == self.worker)
                .values(heartbeat_at=now())
            )
        return result.rowcount

    async def running_elsewhere(self) -> Sequence[Row]:
        """Running jobs of other workers (or of none), for `recovery.py` to judge."""
        query = select(jobs).where(
            jobs.c.status == "running",
            or_(jobs.c.worker.is_(None), jobs.c.worker != (self.worker or "")),
        )
        async with self.engine.connect() as connection:
            return (await connection.execute(query)).all()

    async def release(self, job: Row) -> bool:
        """Running -> queued for a job whose worker is gone, unless that worker (or another
        recovering it) changed the record since `job` was read."""
        same_owner = jobs.c.worker.is_(None) if job.worker is None else jobs.c.worker == job.worker
        same_beat = (
            jobs.c.heartbeat_at.is_(None)
            if job.heartbeat_at is None
            else jobs.c.heartbeat_at == job.heartbeat_at
        )
        async with self.engine.begin() as connection:
            result = await connection.execute(
                update(jobs)
                .where(jobs.c.id == job.id, jobs.c.status == "running", same_owner, same_beat)
                .values(status="queued", progress=0.0, worker=None, heartbeat_at=None)
            )
        return result.rowcount > 0

    async def queued_ids(self) -> Sequence[tuple[str, str]]:
        """(id, type) of every queued job, oldest first: what the queue should hold."""
        query = (
            select(jobs.c.id, jobs.c.type)
            .where(jobs.c.status == "queued")
            .order_by(jobs.c.created_at)
        )
        async with self.engine.connect() as connection:
            return [(row.id, row.type) for row in await connection.execute(query)]

    async def progress(self, job_id: str, progress: float, duration_seconds: float | None) -> bool:
        """False once the job is no longer running (cancelled)."""
        return await self._move(
            job_id,
            ("running",),
            progress=min(max(progress, 0.0), 1.0),
            duration_seconds=duration_seconds,
        )

    async def succeed(
        self,
        job_id: str,
        duration_seconds: float | None,
        summary: str | None = None,
        summary_error: tuple[str, str] | None = None,
    ) -> bool:
        """Running -> succeeded; `duration_seconds` is the audio's (None for a document);
        a transcript's summary, or the code and message of why it has none."""
        code, message = summary_error or (None, None)
        moved = await self._move(
            job_id,
            ("running",),
            status="succeeded",
            progress=1.0,
            duration_seconds=duration_seconds,
            finished_at=now(),
            summary=summary,
            summary_error_code=code,
            summary_error_message=message,
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
        """The job's status; for a worker's store, `running` only while the job is its own
        (`taken` once another worker has it)."""
        query = select(jobs.c.status, jobs.c.worker).where(jobs.c.id == job_id)
        async with self.engine.connect() as connection:
            row = (await connection.execute(query)).first()
        if row is None:
            return None
        if row.status == "running" and self.worker is not None and row.worker != self.worker:
            return "taken"
        return row.status

    async def delete(self, job_id: str) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(delete(jobs).where(jobs.c.id == job_id))
