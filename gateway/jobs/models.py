"""The job records: one row per job, the source of truth for its status and progress (the
queue only carries job ids). Timestamps are naive UTC, as analytics' are."""

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

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
    # The webhook's delivery (`webhooks.py`): pending, delivered, failed (attempts spent) or
    # refused (its target is not allowed); attempts so far, the last answer's HTTP status and
    # the last attempt's error.
    Column("webhook_state", String(16)),
    Column("webhook_attempts", Integer, nullable=False, server_default="0"),
    Column("webhook_last_status", Integer),
    Column("webhook_last_error", Text),
    # When retention (`retention.py`) deleted the job's files; NULL on an `expired` job whose
    # files are still to be deleted (the sweep stopped between marking and deleting).
    Column("expired_at", DateTime()),
    # The worker process running the job (`recovery.worker_id`: host:pid:tag) and when it last
    # said it was alive: a `running` job whose worker is gone is given to another
    # (`recovery.py`).
    Column("worker", String(255)),
    Column("heartbeat_at", DateTime()),
    # `summary: true`: the LLM's summary of the transcript, or why there is none (the job
    # succeeded all the same).
    Column("summary", Text),
    Column("summary_error_code", String(64)),
    Column("summary_error_message", Text),
    # Listing is per owner, newest first.
    Index("ix_jobs_owner_created_at", "owner", "created_at"),
    Index("ix_jobs_owner_idempotency_key", "owner", "idempotency_key"),
    # The queue's gauges (oldest queued) and retention's sweep (finished long ago).
    Index("ix_jobs_status_created_at", "status", "created_at"),
    Index("ix_jobs_status_finished_at", "status", "finished_at"),
)
