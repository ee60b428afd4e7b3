"""The analytics database: its engine, its schema (Alembic migrations) and batch inserts."""

import asyncio
import dataclasses
from collections.abc import Sequence
from pathlib import Path

import structlog
from sqlalchemy import event, insert
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from paneas.gateway.analytics.models import UsageEvent, usage_events
from paneas.gateway.analytics.recorder import DATABASE_UP
from paneas.gateway.analytics.settings import ensure_sqlite_folder
from paneas.gateway.migrations import upgrade_to_head

MIGRATIONS = Path(__file__).parent / "migrations"
# Any constant shared by every replica: the key of PostgreSQL's advisory lock on migrating.
_MIGRATION_LOCK_KEY = 0x70616E656173
# A database that does not answer (a host that drops packets) must fail a connection attempt
# in bounded time, so that migration retries and writes notice the outage, seconds.
_CONNECT_TIMEOUT_SECONDS = 5
# First pause between migration attempts while the database is down, doubling up to the cap.
_FIRST_MIGRATION_RETRY_SECONDS = 0.5

log = structlog.get_logger("paneas.gateway.analytics")


def open_engine(url: URL) -> AsyncEngine:
    ensure_sqlite_folder(url)
    connect_args = (
        {"timeout": _CONNECT_TIMEOUT_SECONDS} if url.get_backend_name() == "postgresql" else {}
    )
    engine = create_async_engine(url, pool_pre_ping=True, connect_args=connect_args)
    if url.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_wal)
    return engine


def _sqlite_wal(dbapi_connection, _record) -> None:
    # Readers of the analytics route then never wait for the writer's transactions.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


async def upgrade_schema(engine: AsyncEngine) -> None:
    """Applies pending analytics migrations over one of the engine's connections."""
    await upgrade_to_head(engine, MIGRATIONS, _MIGRATION_LOCK_KEY)


async def migrate_until_done(engine: AsyncEngine, max_retry_seconds: float) -> None:
    """`upgrade_schema`, retried with backoff until it succeeds. Any failure is retried, not
    only a refused connection: a server that is up before its database exists (or a
    replica's migration lock timing out) must not end analytics for the process's life."""
    delay = _FIRST_MIGRATION_RETRY_SECONDS
    while True:
        try:
            await upgrade_schema(engine)
        except Exception as error:
            DATABASE_UP.set(0)
            log.warning(
                "analytics database unreachable; serving without it, migrating when it answers",
                error=str(error).splitlines()[0] if str(error) else repr(error),
                retry_seconds=delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_retry_seconds)
            continue
        DATABASE_UP.set(1)
        log.info("analytics schema up to date")
        return


class EventStore:
    """Writes batches of events in one multi-row INSERT each."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def insert(self, events: Sequence[UsageEvent]) -> None:
        rows = [dataclasses.asdict(item) for item in events]
        async with self.engine.begin() as connection:
            await connection.execute(insert(usage_events), rows)
