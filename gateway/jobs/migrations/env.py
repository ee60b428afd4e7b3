"""Alembic environment for the jobs schema. The gateway runs it at startup over its own
engine's connection (`config.attributes["connection"]`), as analytics does; the jobs schema has
its own version table, so it migrates whether analytics is on or not."""

from alembic import context
from sqlalchemy import Connection

from paneas.gateway.jobs.models import VERSION_TABLE, metadata


def run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()


run_migrations(context.config.attributes["connection"])
