"""One bounded scheduler shares the model between every request and live stream.

Decodes take a slot (one per CTranslate2 worker). Waiting work is ordered by priority, so a
stream's final result overtakes files and interim results, and a file that has not started
overtakes the later windows of files already running. When the wait line is full, new work is
refused at once with a retry hint rather than slowing everyone down.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from enum import IntEnum
from typing import TypeVar

from paneas.services.asr import metrics
from paneas.services.asr.errors import Overloaded
from paneas.services.runtime.admission import Admission

T = TypeVar("T")


class Priority(IntEnum):
    FINAL = 0
    # A file's (or an alignment's) first slot: its admission.
    BATCH = 1
    # An admitted file's later work (its next window, its speakers' clustering). Behind files
    # not started yet, so a short file waits for the window being decoded, not for the next
    # window of every long file in the line; never refused: the file was admitted.
    CONTINUATION = 2
    INTERIM = 3


class DecodeScheduler:
    def __init__(self, slots: int, max_waiting: int, max_streams: int, retry_after: float) -> None:
        self._slots = slots
        self._max_streams = max_streams
        self._retry_after = retry_after
        self._streams = 0
        self._decodes = Admission(
            slots,
            max_waiting,
            retry_after,
            work="the speech recogniser",
            threads="decode",
            overloaded=Overloaded,
            queue_depth=metrics.QUEUE_DEPTH,
            rejections=metrics.REJECTIONS.labels(reason="queue"),
        )

    @property
    def waiting(self) -> int:
        return self._decodes.waiting

    @property
    def busy(self) -> bool:
        return self._decodes.busy

    @property
    def room_for_interim(self) -> bool:
        """An interim may take a slot now: one is free and, with more than one slot, another
        stays free for the next final. A slot cannot be taken back from a running decode, so
        interims holding every slot would make a final wait for a hypothesis it supersedes."""
        return self._decodes.free >= min(2, self._slots)

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
    async def slot(self, priority: Priority) -> AsyncIterator[None]:
        """Holds one decode slot. Finals are always admitted: their stream was admitted,
        and dropping them would lose speech; so is a file's continuation, which waits its
        turn but is never refused halfway."""
        with self._decodes.admit(always=priority in (Priority.FINAL, Priority.CONTINUATION)):
            async with self._decodes.slot(priority):
                yield

    async def run(self, function: Callable[[], T]) -> T:
        """Runs blocking decode work on the decode threads (call inside `slot`)."""
        return await self._decodes.run(function)

    def close(self) -> None:
        self._decodes.close()
