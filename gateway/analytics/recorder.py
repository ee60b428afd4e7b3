"""The queue between requests and the database, and the task that drains it in batches.

Requests only ever `put_nowait` into a bounded queue: a slow database makes the queue grow,
a full one makes events drop (counted), and neither ever makes a request wait.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine, Sequence

import structlog
from prometheus_client import Counter, Gauge
from sqlalchemy.exc import InterfaceError, OperationalError

from paneas.gateway.analytics.models import UsageEvent

# Writes one batch of events; raises if it could not.
Sink = Callable[[Sequence[UsageEvent]], Awaitable[None]]
# Failures that pass (database down, restarting, locked): the batch is retried. Any other
# failure would fail again (a value the schema refuses), so its batch is dropped instead of
# blocking every later one.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, OSError, TimeoutError)

DROPPED = Counter(
    "paneas_gateway_analytics_dropped_total",
    "Usage events lost: queue full, refused by the database, or unwritten at shutdown.",
    ["reason"],
)
DATABASE_UP = Gauge(
    "paneas_gateway_analytics_database_up",
    "1 while the analytics database takes writes, 0 while it is unreachable (events then "
    "queue, and are dropped once the queue is full).",
)
# Pause before retrying a failed write, doubling up to the cap, seconds.
_FIRST_RETRY_DELAY = 0.5
_MAX_RETRY_DELAY = 10.0

log = structlog.get_logger("paneas.gateway.analytics")


class UsageRecorder:
    def __init__(self, sink: Sink, queue_size: int, batch_size: int, flush_interval: float) -> None:
        self._sink = sink
        self._queue: asyncio.Queue[UsageEvent] = asyncio.Queue(queue_size)
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._closing = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        # The batch being written, counted as dropped if shutdown cuts the write short.
        self._in_flight: Sequence[UsageEvent] = ()

    def record(self, event: UsageEvent) -> None:
        """Queues the event for the writer; never waits."""
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            DROPPED.labels("queue_full").inc()

    def start(self, until_ready: Coroutine[object, object, None] | None = None) -> None:
        """Starts the writer; with `until_ready` (the migrations), it first awaits that, while
        events queue."""
        self._writer = asyncio.create_task(
            self._write_until_closed(until_ready), name="analytics-writer"
        )

    async def stop(self, within_seconds: float) -> None:
        """Writes what is queued, giving up (and counting the loss) after `within_seconds`."""
        if self._writer is None:
            return
        self._closing.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._writer), within_seconds)
        except TimeoutError:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            lost = len(self._in_flight) + self._queue.qsize()
            DROPPED.labels("shutdown").inc(lost)
            log.warning("analytics events not written before shutdown", lost=lost)

    async def _write_until_closed(
        self, until_ready: Coroutine[object, object, None] | None
    ) -> None:
        if until_ready is not None:
            await until_ready
        while True:
            batch = self._take_batch()
            if batch:
                await self._write(batch)
            if len(batch) == self._batch_size:
                continue  # a backlog: write on without pausing
            if self._closing.is_set() and self._queue.empty():
                return
            # Wake early at shutdown so that its flush starts at once.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self._flush_interval)

    def _take_batch(self) -> list[UsageEvent]:
        count = min(self._batch_size, self._queue.qsize())
        return [self._queue.get_nowait() for _ in range(count)]

    async def _write(self, batch: list[UsageEvent]) -> None:
        """Retries transient failures until the batch is written: an outage fills the queue
        but loses nothing already taken from it."""
        self._in_flight = batch
        delay = _FIRST_RETRY_DELAY
        while True:
            try:
                await self._sink(batch)
                DATABASE_UP.set(1)
                break
            except TRANSIENT_ERRORS:
                DATABASE_UP.set(0)
                log.warning("analytics write failed; retrying", events=len(batch), delay=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_RETRY_DELAY)
            except Exception:
                log.exception("analytics batch refused; dropped", events=len(batch))
                DROPPED.labels("write_failed").inc(len(batch))
                break
        self._in_flight = ()
