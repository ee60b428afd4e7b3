"""Refuses request bodies over a size limit with 413, before they are buffered."""

from collections.abc import Sequence
from dataclasses import dataclass

import grpc
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from paneas.gateway.errors import error_response


class BodyTooLarge(Exception):
    pass


@dataclass(frozen=True)
class PathLimit:
    """A limit of its own for the routes under `prefix` (uploads of long recordings), named
    by its `setting` in the refusal."""

    prefix: str
    max_bytes: int
    setting: str


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, path_limits: Sequence[PathLimit] = ()) -> None:
        self.app = app
        self.default = PathLimit("/", max_bytes, "GATEWAY_MAX_BODY_BYTES")
        self.path_limits = path_limits

    def _limit(self, path: str) -> PathLimit:
        return next(
            (
                limit
                for limit in self.path_limits
                if path == limit.prefix or path.startswith(limit.prefix + "/")
            ),
            self.default,
        )

    def _refusal(self, path: str, limit: PathLimit) -> object:
        return error_response(
            path,
            413,
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"request body is larger than the limit of {limit.max_bytes} bytes ({limit.setting})",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit.max_bytes:
            await self._refusal(scope["path"], limit)(scope, receive, send)
            return
        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not response_started:
                await self._refusal(scope["path"], limit)(scope, receive, send)
