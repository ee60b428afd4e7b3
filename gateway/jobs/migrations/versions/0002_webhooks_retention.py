"""jobs: webhook delivery state, retention's expiry, indexes by status

Revision ID: jobs_0002
Revises: jobs_0001
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "jobs_0002"
down_revision: str | None = "jobs_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # batch: SQLite cannot ALTER most things in place; Alembic copies the table there.
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("webhook_state", sa.String(16)))
        batch.add_column(
            sa.Column("webhook_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("webhook_last_status", sa.Integer()))
        batch.add_column(sa.Column("webhook_last_error", sa.Text()))
        batch.add_column(sa.Column("expired_at", sa.DateTime()))
    op.create_index("ix_jobs_status_created_at", "jobs", ["status", "created_at"])
    op.create_index("ix_jobs_status_finished_at", "jobs", ["status", "finished_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_status_finished_at", table_name="jobs")
    op.drop_index("ix_jobs_status_created_at", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("expired_at")
        batch.drop_column("webhook_last_error")
        batch.drop_column("webhook_last_status")
        batch.drop_column("webhook_attempts")
        batch.drop_column("webhook_state")
