"""Live streams open per caller, counted in the rate-limit storage (Redis when REDIS_URL is
set, so the limit holds across gateway replicas; this process's memory otherwise).

A plain counter (+1 at open, -1 at close) would leak forever the streams of a replica that
dies with them open. Instead each open stream holds a lease in time buckets of
`LEASE_SECONDS`: at its start it counts itself in the current bucket and the next one, and
while it lives it counts itself in each next bucket before that bucket begins. The current
bucket's count is therefore every open stream; a stream that ends uncounts itself from the
buckets it is in, and one whose replica died drops out within two buckets, when its counts
expire.
"""

import asyncio
import contextlib
import math
import time

import structlog
from limits.aio.storage import Storage
from limits.errors import StorageError

from paneas.gateway.rate_limit.limiter import STORAGE_ERRORS, RequestLimiter, StorageUnavailable
from paneas.gateway.rate_limit.routes import STREAM_HANDSHAKES

LEASE_SECONDS = 30
# A lease refreshes this often, well within a bucket, so it is in the next bucket in time.
_REFRESH_SECONDS = LEASE_SECONDS / 3
# A bucket's count outlives the bucket after it (the last one anybody refreshes into).
_EXPIRY_SECONDS = 3 * LEASE_SECONDS
# Retry hint when all of a token's streams are open (the client cannot know when one ends).
_RETRY_FULL_SECONDS = 5
# A hung Redis must not hold a handshake up for longer than this.
_STORAGE_DEADLINE_SECONDS = 0.5

log = structlog.get_logger("paneas.gateway.rate_limit")


def _bucket(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // LEASE_SECONDS)


class StreamSlots:
    def __init__(self, storage: Storage, limit: int) -> None:
        self.storage = storage
        self.limit = limit

    def _key(self, identity: str, bucket: int) -> str:
        return f"streams/{identity}/{bucket}"

    async def _add(self, identity: str, bucket: int, amount: int) -> int:
        async with asyncio.timeout(_STORAGE_DEADLINE_SECONDS):
            return await self.storage.incr(self._key(identity, bucket), _EXPIRY_SECONDS, amount)

    async def acquire(self, identity: str) -> "StreamLease | None":
        """A lease on one of `identity`'s slots, or None when they are all taken.

        Raises StorageUnavailable when the storage cannot be asked.
        """
        bucket = _bucket()
        try:
            if await self._add(identity, bucket, 1) > self.limit:
                await self._add(identity, bucket, -1)
                return None
            await self._add(identity, bucket + 1, 1)
        except (StorageError, OSError) as error:
            STORAGE_ERRORS.inc()
            raise StorageUnavailable from error
        lease = StreamLease(self, identity, {bucket, bucket + 1})
        lease.refresher = asyncio.create_task(lease.refresh_forever(), name="stream-lease")
        return lease


class StreamLease:
    def __init__(self, slots: StreamSlots, identity: str, buckets: set[int]) -> None:
        self._slots = slots
        self._identity = identity
        self._buckets = buckets
        self.refresher: asyncio.Task | None = None

    async def refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(_REFRESH_SECONDS)
            upcoming = _bucket() + 1
            if upcoming in self._buckets:
                continue
            try:
                await self._slots._add(self._identity, upcoming, 1)
                self._buckets.add(upcoming)
            except (StorageError, OSError) as error:
                # The stream goes on; at worst it is not counted during the outage.
                STORAGE_ERRORS.inc()
                log.warning("stream lease not refreshed", error=repr(error))

    async def release(self) -> None:
        if self.refresher is not None:
            self.refresher.cancel()
            with contextlib.suppress(BaseException):
                await self.refresher
        current = _bucket()
        for bucket in sorted(self._buckets):
            if bucket < current:
                continue  # expires on its own; nobody counts it any more
            try:
                await self._slots._add(self._identity, bucket, -1)
            except (StorageError, OSError) as error:
                STORAGE_ERRORS.inc()
                log.warning("stream lease not released; it expires", error=repr(error))
        self._buckets.clear()


class StreamRefused(Exception):
    """The caller is over a live-stream limit; the message says which and how to proceed."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class StreamLimits:
    """The handshake rate and the concurrent-stream limit of the live-stream route, with the
    same fail-open choice as the request limits (RATE_LIMIT_FAIL_OPEN)."""

    def __init__(
        self, limiter: RequestLimiter, slots: StreamSlots, window_seconds: int, fail_open: bool
    ) -> None:
        self.limiter = limiter
        self.slots = slots
        self.window_seconds = window_seconds
        self.fail_open = fail_open

    def _storage_down(self) -> None:
        if not self.fail_open:
            raise StreamRefused(
                "rate limiting is unavailable (its storage is unreachable) and "
                "RATE_LIMIT_FAIL_OPEN is false; retry shortly",
                1,
            )

    async def count_handshake(self, identity: str) -> None:
        """Raises StreamRefused beyond RATE_LIMIT_STREAM_HANDSHAKES per window."""
        try:
            verdict = await self.limiter.check(identity, STREAM_HANDSHAKES)
        except StorageUnavailable:
            self._storage_down()
            return
        if not verdict.allowed:
            retry_after = max(1, math.ceil(verdict.reset_at - time.time()))
            raise StreamRefused(
                f"rate limit of {verdict.limit} per {self.window_seconds} s for "
                f"{verdict.limit_class} exceeded; retry in {retry_after} s",
                retry_after,
            )

    async def open_stream(self, identity: str) -> StreamLease | None:
        """A lease to release when the stream ends (None while the storage is down and the
        limits fail open); raises StreamRefused beyond RATE_LIMIT_CONCURRENT_STREAMS."""
        try:
            lease = await self.slots.acquire(identity)
        except StorageUnavailable:
            self._storage_down()
            return None
        if lease is None:
            raise StreamRefused(
                f"this token already has {self.slots.limit} live streams open "
                "(RATE_LIMIT_CONCURRENT_STREAMS); stop one first",
                _RETRY_FULL_SECONDS,
            )
        return lease
