"""The analytics database: its engine, its schema (Alembic migrations) and batch inserts."""

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, insert, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from paneas.gateway.analytics.models import UsageEvent, usage_events
from paneas.gateway.analytics.settings import ensure_sqlite_folder

MIGRATIONS = Path(__file__).parent / "migrations"
# Any constant shared by every replica: the key of PostgreSQL's advisory lock on migrating.
_MIGRATION_LOCK_KEY = 0x70616E656173


def open_engine(url: URL) -> AsyncEngine:
    ensure_sqlite_folder(url)
    engine = create_async_engine(url, pool_pre_ping=True)
    if url.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_wal)
    return engine


def _sqlite_wal(dbapi_connection, _record) -> None:
    # Readers of the analytics route then never wait for the writer's transactions.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


async def upgrade_schema(engine: AsyncEngine) -> None:
    """Applies pending migrations over one of the engine's connections (see env.py)."""

    def upgrade(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Replicas starting together: one migrates, the others wait, then find it done.
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
            )
        await connection.run_sync(upgrade)


class EventStore:
    """Writes batches of events in one multi-row INSERT each."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def insert(self, events: Sequence[UsageEvent]) -> None:
        rows = [dataclasses.asdict(item) for item in events]
        async with self.engine.begin() as connection:
            await connection.execute(insert(usage_events), rows)
