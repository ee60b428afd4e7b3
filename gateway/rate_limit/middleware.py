"""The ASGI middleware: counts each request, adds X-RateLimit-* headers, refuses with 429.

Pure ASGI (BaseHTTPMiddleware would buffer streaming responses).
"""

import math
import time
from collections.abc import Sequence

import grpc
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from paneas.gateway.auth import scope_token
from paneas.gateway.errors import error_response
from paneas.gateway.rate_limit.limiter import (
    RequestLimiter,
    StorageUnavailable,
    Verdict,
    address_identity,
    caller_identity,
)
from paneas.gateway.rate_limit.routes import is_exempt, limit_class
from paneas.services.runtime.auth import token_is_valid


def _per_window(window_seconds: int) -> str:
    return "per minute" if window_seconds == 60 else f"per {window_seconds} s"


class RateLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        limiter: RequestLimiter,
        tokens: Sequence[str],
        window_seconds: int,
        fail_open: bool,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.tokens = tokens
        self.window_seconds = window_seconds
        self.fail_open = fail_open

    def _identity(self, scope: Scope) -> str:
        """A hash of a valid token (never the token itself, which would land in Redis), else
        the client address: an invalid token must not buy a fresh budget per attempt."""
        token = scope_token(scope)
        if token is not None and token_is_valid(token, self.tokens):
            return caller_identity(token)
        return address_identity(scope.get("client"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        try:
            verdict = await self.limiter.check(self._identity(scope), limit_class(path))
        except StorageUnavailable:
            if self.fail_open:
                await self.app(scope, receive, send)
            else:
                await _unavailable(path)(scope, receive, send)
            return
        headers = _limit_headers(verdict)
        if not verdict.allowed:
            await self._refusal(path, verdict, headers)(scope, receive, send)
            return
        raw_headers = [(name.encode(), value.encode()) for name, value in headers.items()]

        async def send_with_limit_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *raw_headers]
            await send(message)

        await self.app(scope, receive, send_with_limit_headers)

    def _refusal(self, path: str, verdict: Verdict, headers: dict[str, str]) -> JSONResponse:
        retry_after = max(1, math.ceil(verdict.reset_at - time.time()))
        message = (
            f"rate limit of {verdict.limit} {_per_window(self.window_seconds)} "
            f"for {verdict.limit_class} exceeded; retry in {retry_after} s"
        )
        headers = {**headers, "Retry-After": str(retry_after)}
        # On /v1/ OpenAI's own 429 body, which its SDKs recognise as a RateLimitError.
        return error_response(path, 429, grpc.StatusCode.RESOURCE_EXHAUSTED, message, headers)


def _limit_headers(verdict: Verdict) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(verdict.limit),
        "X-RateLimit-Remaining": str(verdict.remaining),
        "X-RateLimit-Reset": str(math.ceil(verdict.reset_at)),
    }


def _unavailable(path: str) -> JSONResponse:
    message = (
        "rate limiting is unavailable (its storage is unreachable) and "
        "RATE_LIMIT_FAIL_OPEN is false; retry shortly"
    )
    return error_response(path, 503, grpc.StatusCode.UNAVAILABLE, message, {"Retry-After": "1"})
