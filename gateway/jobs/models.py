"""The job records: one row per job, the source of truth for its status and progress (the
queue only carries job ids). Timestamps are naive UTC, as analytics' are."""

from sqlalchemy import BigInteger, Column, DateTime, Float, Index, MetaData, String, Table, Text

metadata = MetaData()

# Alembic's version table of the jobs schema: its own, so that the jobs and analytics schemas
# (in the same database) migrate independently and either can be off.
VERSION_TABLE = "alembic_version_jobs"

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(36), primary_key=True),
    # Whose job it is: the digest of the token that created it (`auth.token_digest`).
    Column("owner", String(16), nullable=False),
    Column("type", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("progress", Float, nullable=False),
    # The job's config, JSON as validated (`protocol.TranscriptionConfig`).
    Column("config", Text, nullable=False),
    Column("filename", String(255), nullable=False),
    Column("input_bytes", BigInteger, nullable=False),
    Column("duration_seconds", Float),
    Column("webhook_url", String(2048)),
    # The client's Idempotency-Key: the same key from the same owner within a day gets this
    # job back instead of a new one.
    Column("idempotency_key", String(255)),
    Column("error_code", String(64)),
    Column("error_message", Text),
    Column("created_at", DateTime(), nullable=False),
    Column("started_at", DateTime()),
    Column("finished_at", DateTime()),
    # Listing is per owner, newest first.
    Index("ix_jobs_owner_created_at", "owner", "created_at"),
    Index("ix_jobs_owner_idempotency_key", "owner", "idempotency_key"),
)
