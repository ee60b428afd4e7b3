"""GET /api/v1/analytics: request counts, errors, latency and usage totals over a window."""

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException

from paneas.gateway.analytics.queries import GROUP_KEYS, GroupKey, usage_summary
from paneas.gateway.auth import require_token

router = APIRouter(tags=["analytics"], dependencies=[Depends(require_token)])

DEFAULT_WINDOW = timedelta(hours=24)


def _naive_utc(moment: datetime) -> datetime:
    """Stored timestamps are naive UTC; a moment without an offset is taken as UTC."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _group_keys(group_by: str) -> list[GroupKey]:
    keys: list[GroupKey] = []
    for key in (part.strip() for part in group_by.split(",")):
        if key not in GROUP_KEYS:
            raise HTTPException(400, f"group_by: {key!r} is not one of {', '.join(GROUP_KEYS)}")
        if key not in keys:
            keys.append(key)
    return keys


@router.get("/api/v1/analytics", summary="Usage, errors and latency of the gateway's routes")
async def analytics(
    request: Request,
    start: Annotated[
        datetime | None, Query(description="ISO 8601, inclusive; default: 24 h before end")
    ] = None,
    end: Annotated[datetime | None, Query(description="ISO 8601, exclusive; default: now")] = None,
    group_by: Annotated[str, Query(description="Comma-separated: route, model, day")] = "route",
) -> dict:
    keys = _group_keys(group_by)
    window_end = _naive_utc(end) if end else datetime.now(UTC).replace(tzinfo=None)
    window_start = _naive_utc(start) if start else window_end - DEFAULT_WINDOW
    if window_start >= window_end:
        raise HTTPException(400, "start must be before end")
    analytics = request.app.state.analytics
    if window_end - window_start > analytics.max_window:
        raise HTTPException(
            400,
            f"the window from start to end is wider than {analytics.max_window.days} days "
            "(ANALYTICS_MAX_WINDOW_DAYS); ask for a narrower one",
        )
    try:
        summary = await usage_summary(analytics.engine, window_start, window_end, keys)
    except (DBAPIError, OSError) as error:
        raise HTTPException(
            503,
            "the analytics database is unreachable; requests are still served and their "
            f"usage is queued for it ({type(error).__name__})",
            {"Retry-After": "5"},
        ) from None
    return {
        "start": window_start.isoformat() + "Z",
        "end": window_end.isoformat() + "Z",
        "group_by": keys,
        **summary,
    }
