"""One bounded scheduler shares the model between every request and live stream.

Decodes take a slot (one per CTranslate2 worker). Waiting work is ordered by priority, so a
stream's final result overtakes interim results and files. When the wait line is full, new
work is refused at once with a retry hint rather than slowing everyone down.
"""

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from enum import IntEnum
from typing import TypeVar

from paneas.services.asr import metrics
from paneas.services.asr.errors import Overloaded

T = TypeVar("T")


class Priority(IntEnum):
    FINAL = 0
    BATCH = 1
    INTERIM = 2


class DecodeScheduler:
    def __init__(self, slots: int, max_waiting: int, max_streams: int, retry_after: float) -> None:
        self._free = slots
        self._max_waiting = max_waiting
        self._max_streams = max_streams
        self._retry_after = retry_after
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._streams = 0
        # Decodes block in CTranslate2 (which releases the GIL); one thread per slot.
        self._executor = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="decode")

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @property
    def busy(self) -> bool:
        return self._free == 0

    def admit_stream(self) -> None:
        if self._streams >= self._max_streams:
            metrics.REJECTIONS.labels(reason="streams").inc()
            raise Overloaded(
                f"all {self._max_streams} live stream slots are taken; retry in "
                f"{self._retry_after:g} s or connect to another instance",
                self._retry_after,
            )
        self._streams += 1
        metrics.ACTIVE_STREAMS.inc()

    def release_stream(self) -> None:
        self._streams -= 1
        metrics.ACTIVE_STREAMS.dec()

    @asynccontextmanager
    async def slot(self, priority: Priority, admitted: bool = False) -> AsyncIterator[None]:
        """Holds one decode slot. Finals are always admitted: their stream was admitted,
        and dropping them would lose speech; so is work `admitted` before (the next window
        of a file), which waits its turn but is never refused halfway."""
        full = self._free == 0 and len(self._waiters) >= self._max_waiting
        if priority is not Priority.FINAL and not admitted and full:
            metrics.REJECTIONS.labels(reason="queue").inc()
            raise Overloaded(
                f"the speech recogniser is busy ({len(self._waiters)} requests waiting); "
                f"retry in {self._retry_after:g} s",
                self._retry_after,
            )
        await self._acquire(priority)
        try:
            yield
        finally:
            self._release()

    async def run(self, function: Callable[[], T]) -> T:
        """Runs blocking decode work on the decode threads (call inside `slot`)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, function)

    async def _acquire(self, priority: Priority) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (int(priority), next(self._order), waiter)
        heapq.heappush(self._waiters, entry)
        metrics.QUEUE_DEPTH.set(len(self._waiters))
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                # The slot was handed over just as the caller left: pass it on.
                self._release()
            elif entry in self._waiters:
                self._waiters.remove(entry)
                heapq.heapify(self._waiters)
                metrics.QUEUE_DEPTH.set(len(self._waiters))
            raise

    def _release(self) -> None:
        while self._waiters:
            _, _, waiter = heapq.heappop(self._waiters)
            metrics.QUEUE_DEPTH.set(len(self._waiters))
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
