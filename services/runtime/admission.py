"""Admission: a service's workers shared between its requests, with a bounded wait line.

Work is admitted first: at most `slots + max_waiting` units at once (decodes, requests, pages),
beyond which new work is refused at once with the service's overload error (RESOURCE_EXHAUSTED
with a retry hint) rather than queueing without bound and slowing everyone down. Admitted work
then takes a slot (one per worker thread) to run; waiting work is served by priority, lower
first, in arrival order within a priority.
"""

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from typing import TypeVar

from prometheus_client import Counter, Gauge

from paneas.services.runtime import errors

T = TypeVar("T")


def waiting_requests(admission: "Admission", units: int) -> str:
    """The load a refusal names by default: what waits for a slot."""
    return f"{admission.waiting} requests waiting"


class Admission:
    """Not thread-safe: admit, wait and release on the event loop; only `run`'s work goes
    to the threads."""

    def __init__(
        self,
        slots: int,
        max_waiting: int,
        retry_after: float,
        *,
        work: str,
        threads: str,
        overloaded: Callable[[str, float], Exception] = errors.Overloaded,
        load: Callable[["Admission", int], str] = waiting_requests,
        queue_depth: Gauge | None = None,
        rejections: Counter | None = None,
    ) -> None:
        """`work` names what is busy in a refusal ("the speech recogniser"), `load` says how
        busy; `overloaded` is the service's overload error, built from the message and
        `retry_after`. `threads` names the `slots` worker threads. `queue_depth` is set to
        the work waiting for a slot, `rejections` counts refusals."""
        self._free = slots
        self._limit = slots + max_waiting
        self._retry_after = retry_after
        self._work = work
        self._overloaded = overloaded
        self._load = load
        self._queue_depth = queue_depth
        self._rejections = rejections
        self._admitted = 0
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        # Blocking work (CTranslate2, ONNX, llama.cpp, Tesseract) mostly releases the GIL.
        self._executor = ThreadPoolExecutor(max_workers=slots, thread_name_prefix=threads)

    @property
    def admitted(self) -> int:
        """Units admitted and not finished: holding a slot, waiting for one, or between two."""
        return self._admitted

    @property
    def waiting(self) -> int:
        """Work waiting for a slot."""
        return len(self._waiters)

    @property
    def busy(self) -> bool:
        """Every slot is taken: new work would wait."""
        return self._free == 0

    @property
    def free(self) -> int:
        """Slots nobody holds or waits for."""
        return 0 if self._waiters else self._free

    @contextmanager
    def admit(self, units: int = 1, always: bool = False) -> Iterator[None]:
        """Counts `units` of work in until the block ends, or refuses them at once when they
        would take the admitted work over `slots + max_waiting`. Work bigger than that alone
        is still taken when nothing else is admitted, or it could never be served. `always`
        work is never refused: dropping it would lose what was already done for it."""
        if not always and self._admitted and self._admitted + units > self._limit:
            if self._rejections is not None:
                self._rejections.inc()
            raise self._overloaded(
                f"{self._work} is busy ({self._load(self, units)}); "
                f"retry in {self._retry_after:g} s",
                self._retry_after,
            )
        self._admitted += units
        try:
            yield
        finally:
            self._admitted -= units

    @asynccontextmanager
    async def slot(self, priority: int = 0) -> AsyncIterator[None]:
        """Holds one slot, waiting for it behind work of the same or a lower priority (take
        it inside `admit`, which bounds the wait line)."""
        await self._acquire(priority)
        try:
            yield
        finally:
            self._release()

    async def run(self, function: Callable[[], T]) -> T:
        """Runs blocking work on the worker threads (call inside `slot`). A thread cannot be
        stopped: a caller cancelled while its work runs leaves only once the work has ended,
        so its slot is not handed on while the thread still works (work not started yet is
        dropped)."""
        work = self._executor.submit(function)
        try:
            return await asyncio.wrap_future(work)
        except asyncio.CancelledError:
            if not work.cancel():
                await asyncio.wait([asyncio.wrap_future(work)])
            raise

    def close(self, wait: bool = False) -> None:
        """Drops the work not started; `wait` for the work running to end."""
        self._executor.shutdown(wait=wait, cancel_futures=True)

    async def _acquire(self, priority: int) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (priority, next(self._order), waiter)
        heapq.heappush(self._waiters, entry)
        self._report_depth()
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                # The slot was handed over just as the caller left: pass it on.
                self._release()
            elif entry in self._waiters:
                self._waiters.remove(entry)
                heapq.heapify(self._waiters)
                self._report_depth()
            raise

    def _release(self) -> None:
        while self._waiters:
            _, _, waiter = heapq.heappop(self._waiters)
            self._report_depth()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1

    def _report_depth(self) -> None:
        if self._queue_depth is not None:
            self._queue_depth.set(len(self._waiters))
