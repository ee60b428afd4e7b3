"""Usage summaries over a time window, grouped by route, model and/or UTC day.

Counts and totals are summed in SQL. Latency percentiles are computed here, from the
latencies of the window, the same way on SQLite (which has no percentile function) and
PostgreSQL, interpolating linearly as PostgreSQL's `percentile_cont` does.
"""

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import Literal

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from paneas.gateway.analytics.models import usage_events

GroupKey = Literal["route", "model", "day"]
GROUP_KEYS: tuple[GroupKey, ...] = ("route", "model", "day")

_TOTALS = (
    "request_bytes",
    "response_bytes",
    "audio_seconds",
    "prompt_tokens",
    "completion_tokens",
    "pages",
    "characters",
)


def _group_column(key: GroupKey) -> ColumnElement:
    if key == "day":
        # date() is the calendar day on both engines: a string on SQLite, a date on PostgreSQL.
        return func.date(usage_events.c.occurred_at).label("day")
    return usage_events.c[key].label(key)


def percentile(ordered: Sequence[float], fraction: float) -> float | None:
    """The `fraction` percentile of ascending values, interpolated like percentile_cont."""
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def _summary(count: int, errors: int, totals: dict[str, float], latencies: list[float]) -> dict:
    latencies.sort()
    return {
        "count": count,
        "error_count": errors,
        "error_rate": errors / count if count else 0.0,
        "latency_ms": {"p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95)},
        "totals": totals,
    }


def _total(name: str, value: object) -> float | int:
    # PostgreSQL sums BIGINT columns into NUMERIC, which arrives as Decimal.
    return float(value) if name == "audio_seconds" else int(value)


def _json_value(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else value


async def usage_summary(
    engine: AsyncEngine, start: datetime, end: datetime, group_by: Sequence[GroupKey]
) -> dict:
    """Per group and overall: request and error counts, latency p50/p95, usage totals.

    `start` (inclusive) and `end` (exclusive) are naive UTC, like the stored timestamps.
    """
    keys = [_group_column(key) for key in group_by]
    in_window = (usage_events.c.occurred_at >= start) & (usage_events.c.occurred_at < end)
    aggregates = (
        select(
            *keys,
            func.count().label("count"),
            func.coalesce(func.sum(case((usage_events.c.status >= 400, 1), else_=0)), 0).label(
                "error_count"
            ),
            *(func.coalesce(func.sum(usage_events.c[name]), 0).label(name) for name in _TOTALS),
        )
        .where(in_window)
        .group_by(*keys)
        .order_by(*keys)
    )
    latencies_query = select(*keys, usage_events.c.latency_ms).where(in_window)
    async with engine.connect() as connection:
        groups = (await connection.execute(aggregates)).mappings().all()
        latency_rows = (await connection.execute(latencies_query)).all()

    latencies: dict[tuple, list[float]] = defaultdict(list)
    for *group, latency in latency_rows:
        latencies[tuple(group)].append(latency)
    summaries = []
    for row in groups:
        group = tuple(row[key] for key in group_by)
        totals = {name: _total(name, row[name]) for name in _TOTALS}
        summaries.append(
            {
                **{key: _json_value(value) for key, value in zip(group_by, group, strict=True)},
                **_summary(row["count"], row["error_count"], totals, latencies[group]),
            }
        )
    overall_totals = {name: sum(group["totals"][name] for group in summaries) for name in _TOTALS}
    overall = _summary(
        sum(row["count"] for row in groups),
        sum(row["error_count"] for row in groups),
        overall_totals,
        [latency for group in latencies.values() for latency in group],
    )
    return {"groups": summaries, "overall": overall}
