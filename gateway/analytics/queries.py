"""Usage summaries over a time window, grouped by route, model and/or UTC day.

Everything is computed in the database; no latency list is ever loaded into the gateway
(a wide window would hold millions, sorted on the event loop). Latency percentiles:
PostgreSQL's `percentile_cont`; SQLite has no percentile function, so each group's rows are
ranked there (window functions) and only the two rows around each percentile come back, to be
interpolated linearly here as `percentile_cont` does.
"""

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import Literal

from sqlalchemy import ColumnElement, Integer, and_, case, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

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


PERCENTILES = {"p50": 0.5, "p95": 0.95}
Percentiles = dict[str, float | None]


def percentile(ordered: Sequence[float], fraction: float) -> float | None:
    """The `fraction` percentile of ascending values, interpolated like percentile_cont."""
    if not ordered:
        return None
    return _interpolated(
        {index: value for index, value in enumerate(ordered)}, len(ordered), fraction
    )


def _interpolated(at: dict[int, float], count: int, fraction: float) -> float | None:
    """percentile_cont from the values at the positions around it (0-based, ascending)."""
    if not count:
        return None
    position = fraction * (count - 1)
    below = int(position)
    above = min(below + 1, count - 1)
    return at[below] + (at[above] - at[below]) * (position - below)


async def _percentiles_postgresql(
    connection: AsyncConnection, keys: list[ColumnElement], in_window: ColumnElement
) -> dict[tuple, Percentiles]:
    latency = usage_events.c.latency_ms
    query = (
        select(
            *keys,
            *(
                func.percentile_cont(fraction).within_group(latency).label(name)
                for name, fraction in PERCENTILES.items()
            ),
        )
        .where(in_window)
        .group_by(*keys)
    )
    rows = (await connection.execute(query)).all()
    width = len(keys)
    return {
        tuple(row[:width]): {
            name: None if value is None else float(value)
            for name, value in zip(PERCENTILES, row[width:], strict=True)
        }
        for row in rows
    }


async def _percentiles_ranked(
    connection: AsyncConnection, keys: list[ColumnElement], in_window: ColumnElement
) -> dict[tuple, Percentiles]:
    latency = usage_events.c.latency_ms
    partition = keys or None
    ranked = (
        select(
            *keys,
            latency.label("latency"),
            (func.row_number().over(partition_by=partition, order_by=latency) - 1).label(
                "position"
            ),
            func.count().over(partition_by=partition).label("n"),
        )
        .where(in_window)
        .subquery()
    )
    # One row either side of each percentile's position is enough to interpolate; a third,
    # below, leaves room for the database's and Python's float rounding to differ.
    near = [
        and_(
            ranked.c.position >= cast(fraction * (ranked.c.n - 1), Integer) - 1,
            ranked.c.position <= cast(fraction * (ranked.c.n - 1), Integer) + 1,
        )
        for fraction in PERCENTILES.values()
    ]
    names = [key.name for key in keys]
    query = select(
        *(ranked.c[name] for name in names), ranked.c.position, ranked.c.n, ranked.c.latency
    ).where(or_(*near))
    values: dict[tuple, dict[int, float]] = defaultdict(dict)
    counts: dict[tuple, int] = {}
    for *group, position, count, value in (await connection.execute(query)).all():
        values[tuple(group)][position] = value
        counts[tuple(group)] = count
    return {
        group: {
            name: _interpolated(values[group], counts[group], fraction)
            for name, fraction in PERCENTILES.items()
        }
        for group in counts
    }


def _summary(count: int, errors: int, totals: dict[str, float], latency: Percentiles) -> dict:
    return {
        "count": count,
        "error_count": errors,
        "error_rate": errors / count if count else 0.0,
        "latency_ms": latency,
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
    async with engine.connect() as connection:
        groups = (await connection.execute(aggregates)).mappings().all()
        percentiles = (
            _percentiles_postgresql
            if connection.dialect.name == "postgresql"
            else _percentiles_ranked
        )
        by_group = await percentiles(connection, keys, in_window)
        overall_latency = (await percentiles(connection, [], in_window)).get(())

    no_latency: Percentiles = dict.fromkeys(PERCENTILES)
    summaries = []
    for row in groups:
        group = tuple(row[key] for key in group_by)
        totals = {name: _total(name, row[name]) for name in _TOTALS}
        summaries.append(
            {
                **{key: _json_value(value) for key, value in zip(group_by, group, strict=True)},
                **_summary(
                    row["count"], row["error_count"], totals, by_group.get(group, no_latency)
                ),
            }
        )
    overall_totals = {name: sum(group["totals"][name] for group in summaries) for name in _TOTALS}
    overall = _summary(
        sum(row["count"] for row in groups),
        sum(row["error_count"] for row in groups),
        overall_totals,
        overall_latency or no_latency,
    )
    return {"groups": summaries, "overall": overall}
