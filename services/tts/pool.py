"""A bounded worker pool for the engines: synchronous, CPU-bound work off the event loop.

Work runs one sentence at a time, so a stream whose client leaves stops after the sentence
in progress. Requests beyond `workers + max_queue` are refused at once with a retry hint
rather than queueing without bound.
"""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from paneas.services.tts import metrics
from paneas.services.tts.errors import Overloaded

T = TypeVar("T")


class WorkerPool:
    def __init__(self, workers: int, max_queue: int, retry_after: float) -> None:
        self._limit = workers + max_queue
        self._retry_after = retry_after
        self._requests = 0
        self._slots = asyncio.Semaphore(workers)
        self._waiting = 0
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tts")

    @contextmanager
    def admitted(self):
        if self._requests >= self._limit:
            metrics.REJECTIONS.inc()
            raise Overloaded(
                f"the speech synthesiser is busy ({self._requests} requests in progress); "
                f"retry in {self._retry_after:g} s",
                self._retry_after,
            )
        self._requests += 1
        try:
            yield
        finally:
            self._requests -= 1

    async def run(self, function: Callable[[], T]) -> T:
        self._waiting += 1
        metrics.QUEUE_DEPTH.set(self._waiting)
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
            metrics.QUEUE_DEPTH.set(self._waiting)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, function)
        finally:
            self._slots.release()

    async def call(self, function: Callable[[], T]) -> T:
        """Runs blocking work (loading, warm-up) on the pool's threads."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, function)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
