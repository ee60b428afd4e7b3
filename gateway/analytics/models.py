"""The analytics table: one row per HTTP request the gateway served.

Timestamps are naive UTC so that `date(occurred_at)` is the UTC day on SQLite and PostgreSQL
alike (a timestamptz would be cut into days in the session's time zone).
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
)

metadata = MetaData()

usage_events = Table(
    "usage_events",
    metadata,
    # SQLite only auto-increments INTEGER PRIMARY KEY.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("occurred_at", DateTime(), nullable=False),
    Column("route", String(200), nullable=False),
    Column("method", String(16), nullable=False),
    Column("rpc", String(200)),
    Column("model", String(200)),
    Column("status", SmallInteger, nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("request_bytes", BigInteger, nullable=False),
    Column("response_bytes", BigInteger, nullable=False),
    Column("audio_seconds", Float, nullable=False),
    Column("prompt_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    Column("pages", Integer, nullable=False),
    Column("characters", BigInteger, nullable=False),
    Column("token_hash", String(16)),
    Column("request_id", String(128)),
    Index("ix_usage_events_occurred_at", "occurred_at"),
)


@dataclass(frozen=True, slots=True)
class UsageEvent:
    """One row of `usage_events`, as the middleware builds it."""

    occurred_at: datetime
    route: str
    method: str
    rpc: str | None
    model: str | None
    status: int
    latency_ms: float
    request_bytes: int
    response_bytes: int
    audio_seconds: float
    prompt_tokens: int
    completion_tokens: int
    pages: int
    characters: int
    token_hash: str | None
    request_id: str | None
