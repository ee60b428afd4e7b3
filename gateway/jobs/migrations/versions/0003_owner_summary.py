"""jobs: the worker that runs a job and its heartbeat (recovery), a transcript's summary

Revision ID: jobs_0003
Revises: jobs_0002
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "jobs_0003"
down_revision: str | None = "jobs_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("worker", sa.String(255)))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime()))
        batch.add_column(sa.Column("summary", sa.Text()))
        batch.add_column(sa.Column("summary_error_code", sa.String(64)))
        batch.add_column(sa.Column("summary_error_message", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("summary_error_message")
        batch.drop_column("summary_error_code")
        batch.drop_column("summary")
        batch.drop_column("heartbeat_at")
        batch.drop_column("worker")
