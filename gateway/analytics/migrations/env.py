"""Alembic environment for the analytics schema.

The gateway runs migrations at startup over its own engine's connection, handed over in
`config.attributes["connection"]`; the Alembic command line gets an engine of its own for
`DATABASE_URL`.
"""

import asyncio

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from paneas.gateway.analytics.models import metadata
from paneas.gateway.analytics.settings import AnalyticsSettings, ensure_sqlite_folder


def run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_on_own_engine() -> None:
    url = AnalyticsSettings().async_url()
    ensure_sqlite_folder(url)
    engine = create_async_engine(url, poolclass=NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(run_migrations)
    await engine.dispose()


shared_connection = context.config.attributes.get("connection")
if shared_connection is not None:
    run_migrations(shared_connection)
else:
    asyncio.run(run_migrations_on_own_engine())
