"""Counting requests against moving-window limits in a `limits` storage (memory or Redis).

Storage outages are contained here: the limiter stops calling a failed storage for a moment,
logs one warning per outage, and reports `StorageUnavailable` so the middleware can fail open
or closed.
"""

import asyncio
import time
from dataclasses import dataclass

import structlog
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string
from prometheus_client import Counter, Gauge

from paneas.gateway.auth import token_digest
from paneas.gateway.rate_limit.routes import GLOBAL

RATE_LIMITED = Counter(
    "paneas_gateway_rate_limited_total",
    "Requests refused with 429, by the limit they exceeded.",
    ["limit_class"],
)
STORAGE_ERRORS = Counter(
    "paneas_gateway_rate_limit_storage_errors_total",
    "Rate-limit storage calls that failed (requests then go unlimited or get 503).",
)
STORAGE_UP = Gauge(
    "paneas_gateway_rate_limit_storage_up",
    "1 while the rate-limit storage answers, 0 during an outage.",
)

# After a failure, requests skip the storage this long rather than each waiting on it.
_RETRY_STORAGE_AFTER_SECONDS = 1.0
# A hung Redis must not hold a request up for longer than this, reconnects included.
_STORAGE_DEADLINE_SECONDS = 0.5

log = structlog.get_logger("paneas.gateway.rate_limit")


def caller_identity(token: str) -> str:
    """The limiter's name for the caller with this (valid) token, for HTTP requests and
    WebSockets alike: a hash, never the token itself, which would land in Redis."""
    return "token:" + token_digest(token)


def address_identity(client: tuple[str, int] | None) -> str:
    """The limiter's name for a caller without a valid token: an invalid token must not buy
    a fresh budget per attempt."""
    return "ip:" + (client[0] if client else "unknown")


class StorageUnavailable(Exception):
    """The storage could not be asked, so the request was not counted."""


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    # The limit that was exceeded or, when allowed, the one with the fewest requests left.
    limit_class: str
    limit: int
    remaining: int
    # Epoch seconds at which the oldest request in the window stops counting.
    reset_at: float


def open_storage(redis_url: str) -> Storage:
    """Redis when a URL is given, else this process's memory."""
    if not redis_url:
        return storage_from_string("async+memory://")
    scheme, _, rest = redis_url.partition("://")
    if scheme in ("redis", "rediss"):
        uri = f"async+{redis_url}"
    elif scheme == "unix":
        uri = f"async+redis+unix://{rest}"
    else:
        raise ValueError(f"REDIS_URL must be redis://, rediss:// or unix://, not {scheme}://")
    # wrap_exceptions: every client error arrives as limits' StorageError.
    return storage_from_string(
        uri,
        wrap_exceptions=True,
        key_prefix="paneas-gateway",
        connect_timeout=_STORAGE_DEADLINE_SECONDS,
        stream_timeout=_STORAGE_DEADLINE_SECONDS,
    )


class RequestLimiter:
    def __init__(self, storage: Storage, limits: dict[str, int], window_seconds: int) -> None:
        # Moving window: exact counts over the last window_seconds, so no double burst at a
        # fixed window's edge, and Retry-After is exactly when the oldest request expires.
        self._strategy = MovingWindowRateLimiter(storage)
        self._items: dict[str, RateLimitItem] = {
            name: RateLimitItemPerSecond(amount, window_seconds) for name, amount in limits.items()
        }
        self._storage_up = True
        self._retry_storage_at = 0.0
        STORAGE_UP.set(1)

    async def check(self, identity: str, limit_class: str | None) -> Verdict:
        """Counts one request against its class limit, then the global one."""
        if not self._storage_up and time.monotonic() < self._retry_storage_at:
            raise StorageUnavailable
        names = (limit_class, GLOBAL) if limit_class else (GLOBAL,)
        try:
            async with asyncio.timeout(_STORAGE_DEADLINE_SECONDS):
                verdict = await self._consume(identity, names)
        # OSError covers TimeoutError and a connection lost outside limits' wrapping.
        except (StorageError, OSError) as error:
            self._storage_failed(error)
            raise StorageUnavailable from error
        if not self._storage_up:
            self._storage_up = True
            STORAGE_UP.set(1)
            log.info("rate limit storage reachable again")
        if not verdict.allowed:
            RATE_LIMITED.labels(verdict.limit_class).inc()
        return verdict

    async def _consume(self, identity: str, names: tuple[str, ...]) -> Verdict:
        # The class goes first: a request it refuses leaves the global budget untouched.
        for name in names:
            item = self._items[name]
            if not await self._strategy.hit(item, name, identity):
                stats = await self._strategy.get_window_stats(item, name, identity)
                return Verdict(False, name, item.amount, 0, stats.reset_time)
        windows = await asyncio.gather(
            *(self._strategy.get_window_stats(self._items[name], name, identity) for name in names)
        )
        remaining, limit, reset_at, name = min(
            (stats.remaining, self._items[name].amount, stats.reset_time, name)
            for name, stats in zip(names, windows, strict=True)
        )
        return Verdict(True, name, limit, remaining, reset_at)

    def _storage_failed(self, error: Exception) -> None:
        STORAGE_ERRORS.inc()
        self._retry_storage_at = time.monotonic() + _RETRY_STORAGE_AFTER_SECONDS
        if self._storage_up:
            self._storage_up = False
            STORAGE_UP.set(0)
            cause = getattr(error, "storage_error", error)
            log.warning(
                "rate limit storage unreachable",
                error=repr(cause),
                deadline_seconds=_STORAGE_DEADLINE_SECONDS,
            )
