"""Applying a schema's Alembic migrations over the gateway's own database connection.

The analytics tables and the job records are two schemas with their own migrations and
version tables, upgraded at startup by their own lifespans, which run concurrently. Alembic's
`context` and `op` are module-level proxies that one upgrade sets and clears, so two upgrades
at once in one process break each other (a KeyError as one ends): they take turns here. Across
processes (replicas starting together on PostgreSQL), an advisory lock per schema does the same.
"""

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

_one_at_a_time = asyncio.Lock()


def alembic_config(migrations: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations))
    return config


async def upgrade_to_head(engine: AsyncEngine, migrations: Path, advisory_lock_key: int) -> None:
    """Applies the pending migrations in `migrations` (its env.py takes the connection)."""

    def upgrade(connection: Connection) -> None:
        config = alembic_config(migrations)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with _one_at_a_time, engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Replicas starting together: one migrates, the others wait, then find it done.
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_lock_key}
            )
        await connection.run_sync(upgrade)
