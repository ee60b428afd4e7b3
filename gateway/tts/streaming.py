"""Audio streamed to the client chunk by chunk as the TTS service synthesises it.

Raw audio has no way to say "failed" in-band: when the service fails mid-stream the response
ends without its last (empty) chunk, so the client sees a truncated body (httpx:
`RemoteProtocolError: incomplete chunked read`) instead of audio that looks whole.
"""

from collections.abc import AsyncIterator, Callable, Mapping

import grpc
import structlog
from starlette.responses import StreamingResponse
from starlette.types import Send

from paneas.gateway.errors import grpc_error_message

log = structlog.get_logger("paneas.gateway.tts")


class StreamBroken(Exception):
    """The audio stream failed after its first bytes were sent."""

    def __init__(self, error: grpc.aio.AioRpcError) -> None:
        super().__init__(grpc_error_message(error, "tts"))
        self.code = error.code()


class AudioStream(StreamingResponse):
    """Chunked audio; `close` runs however the response ends (done, failed, or the client
    gone, when Starlette cancels the response), so the gRPC call never outlives it."""

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        *,
        media_type: str,
        headers: Mapping[str, str],
        close: Callable[[], None],
    ) -> None:
        super().__init__(chunks, media_type=media_type, headers=headers)
        self._close = close

    async def stream_response(self, send: Send) -> None:
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            try:
                async for chunk in self.body_iterator:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except StreamBroken as error:
                log.warning(
                    "speech stream failed after it started", code=error.code.name, error=str(error)
                )
                return  # no final chunk: the server closes the connection mid-body
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self._close()
