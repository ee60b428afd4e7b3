"""How the gateway shuts down (SIGTERM, Ctrl-C) without cutting live streams mid-utterance.

uvicorn alone closes every WebSocket at once (close 1012) as soon as it starts shutting down,
and only then waits for HTTP requests: the utterance a live client is speaking is lost.
`GatewayServer` puts a stage before that:

1. stop taking new work: the listening sockets close (new connections are refused), idle
   keep-alive connections close, HTTP requests in flight go on;
2. every open live stream (`LiveStreams`: the native WebSocket and OpenAI Realtime sessions)
   ends its audio as if its client had sent the end of it, waits at most
   `GATEWAY_ASR_STREAM_DRAIN_SECONDS` for the service's last results, sends them, and closes
   with 1001 (going away); a handshake that arrives meanwhile is refused with 503;
3. uvicorn's own shutdown: HTTP requests in flight get `timeout_graceful_shutdown`, then
   the lifespan closes the gRPC channels.

The launcher stops the gateway before the services and Envoy, so the last results still have
everything behind them.
"""

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Protocol

import structlog
import uvicorn

log = structlog.get_logger("paneas.gateway.shutdown")

# Beyond each stream's own grace: its error event and close handshake.
CLOSE_MARGIN_SECONDS = 2.0


class GoesAway(Protocol):
    def go_away(self) -> None:
        """End the audio now; send the last results (within the grace) and close 1001."""


class LiveStreams:
    """The live streams open in this process, so that shutdown can end them gracefully."""

    def __init__(self, drain_seconds: float) -> None:
        self.drain_seconds = drain_seconds
        self.draining = False
        self._open: set[GoesAway] = set()
        self._none_open = asyncio.Event()
        self._none_open.set()

    @contextlib.contextmanager
    def track(self, session: GoesAway) -> Iterator[None]:
        """While `session` runs. One that starts during a drain is told to go away at once
        (its handshake raced the drain)."""
        self._open.add(session)
        self._none_open.clear()
        if self.draining:
            session.go_away()
        try:
            yield
        finally:
            self._open.discard(session)
            if not self._open:
                self._none_open.set()

    async def drain(self) -> None:
        """Tells every open stream to go away and waits until all have closed (each bounds
        its own wait for results by `drain_seconds`)."""
        self.draining = True
        if not self._open:
            return
        log.info("draining live streams", streams=len(self._open), seconds=self.drain_seconds)
        for session in list(self._open):
            session.go_away()
        try:
            async with asyncio.timeout(self.drain_seconds + CLOSE_MARGIN_SECONDS):
                await self._none_open.wait()
        except TimeoutError:
            log.warning("live streams still open after the drain", streams=len(self._open))


class GatewayServer(uvicorn.Server):
    """uvicorn with the drain stage above before its own shutdown."""

    def __init__(self, config: uvicorn.Config, live_streams: LiveStreams) -> None:
        super().__init__(config)
        self.live_streams = live_streams

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # New connections are refused from here on (uvicorn closes these again, harmlessly).
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        # Idle keep-alive connections close; a request in flight finishes, then its
        # connection closes. WebSockets are left to the drain.
        for connection in list(self.server_state.connections):
            if isinstance(connection, self.config.http_protocol_class):
                connection.shutdown()
        await self.live_streams.drain()
        await super().shutdown(sockets)
