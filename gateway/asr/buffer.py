"""The audio of one live stream waiting for the ASR service, bounded by its size in bytes.

Counting frames bounded nothing: a client picks the frame size (up to the WebSocket frame
limit), so 32 frames could be 32 x 16 MiB. A full buffer makes `put` wait, which stops the
session from reading the WebSocket, so TCP slows down a client that sends faster than the
service takes audio.
"""

import asyncio
from collections import deque

from prometheus_client import Gauge

BUFFERED_BYTES = Gauge(
    "paneas_gateway_asr_stream_buffered_bytes",
    "Audio bytes of every open live stream waiting in the gateway for the ASR service.",
)

# What `put` takes besides audio: the end of the client's audio.
END = None


class AudioBuffer:
    """A FIFO of audio chunks (and `END`) holding at most `max_bytes` of audio. A chunk over
    the budget on its own (the WebSocket frame limit can be larger) is taken once the buffer
    is empty, so one frame never deadlocks the stream."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._chunks: deque[bytes | None] = deque()
        self._changed = asyncio.Condition()

    async def put(self, chunk: bytes | None) -> None:
        size = len(chunk or b"")
        async with self._changed:
            # `END` (no bytes) never waits, even behind a chunk over the budget.
            await self._changed.wait_for(
                lambda: not self._chunks or self.bytes + size <= self.max_bytes or not size
            )
            self._chunks.append(chunk)
            self._count(size)
            self._changed.notify_all()

    async def get(self) -> bytes | None:
        async with self._changed:
            await self._changed.wait_for(lambda: bool(self._chunks))
            chunk = self._chunks.popleft()
            self._count(-len(chunk or b""))
            self._changed.notify_all()
            return chunk

    def clear(self) -> None:
        """At the end of the session: what was never sent leaves the gauge."""
        self._count(-self.bytes)
        self._chunks.clear()

    def _count(self, size: int) -> None:
        self.bytes += size
        BUFFERED_BYTES.inc(size)
