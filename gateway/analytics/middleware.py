"""Turns each served request into a `UsageEvent` once its response has been sent.

Pure ASGI (BaseHTTPMiddleware would buffer streaming responses); the event only goes into
the recorder's queue, so the database is never on a request's path.
"""

import time
from collections.abc import Sequence
from datetime import UTC, datetime

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from paneas.gateway.analytics.models import UsageEvent
from paneas.gateway.analytics.recorder import UsageRecorder
from paneas.gateway.auth import scope_token, token_digest
from paneas.gateway.exchange import ExchangeMeter
from paneas.gateway.telemetry import method_label
from paneas.gateway.usage import Usage
from paneas.services.runtime.auth import token_is_valid

# Scrapes, probes, the API description and the web page's assets: not usage, and probes
# every few seconds would outnumber real calls. Reading the analytics is not usage either.
_UNRECORDED_PATHS = frozenset({"/", "/metrics", "/api/v1/health", "/openapi.json"})
_UNRECORDED_PREFIXES = ("/docs", "/redoc", "/static/", "/api/v1/analytics")


def is_recorded(path: str) -> bool:
    return path not in _UNRECORDED_PATHS and not path.startswith(_UNRECORDED_PREFIXES)


class AnalyticsMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        recorder: UsageRecorder,
        routes: Sequence[BaseRoute],
        tokens: Sequence[str],
    ) -> None:
        self.app = app
        self.recorder = recorder
        self.routes = routes
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_recorded(scope["path"]):
            await self.app(scope, receive, send)
            return
        occurred_at = datetime.now(UTC).replace(tzinfo=None)
        started = time.perf_counter()
        exchange = ExchangeMeter(receive, send)
        try:
            await self.app(scope, exchange.receive, exchange.send)
        finally:
            usage = scope.get("state", {}).get("usage") or Usage()
            self.recorder.record(
                UsageEvent(
                    occurred_at=occurred_at,
                    route=self._route_template(scope),
                    # The column holds 16 characters; a made-up method would fail its batch.
                    method=method_label(scope["method"]),
                    rpc=usage.rpc or None,
                    model=usage.model or None,
                    status=exchange.status,
                    latency_ms=(time.perf_counter() - started) * 1000,
                    request_bytes=exchange.bytes_in,
                    response_bytes=exchange.bytes_out,
                    audio_seconds=usage.audio_seconds,
                    prompt_tokens=usage.prompt_tokens,
                    completion_tokens=usage.completion_tokens,
                    pages=usage.pages,
                    characters=usage.characters,
                    token_hash=self._token_hash(scope),
                    request_id=_request_id(scope),
                )
            )

    def _route_template(self, scope: Scope) -> str:
        """The matched route's template; for requests refused before routing (429), the
        route they would have reached."""
        route = scope.get("route")
        if route is None:
            route = next(
                (each for each in self.routes if each.matches(scope)[0] is Match.FULL), None
            )
        return getattr(route, "path", None) or "unmatched"

    def _token_hash(self, scope: Scope) -> str | None:
        """Who called, as a sha256 prefix of their valid token (never the token itself)."""
        token = scope_token(scope)
        if token is None or not token_is_valid(token, self.tokens):
            return None
        return token_digest(token)


def _request_id(scope: Scope) -> str | None:
    # The telemetry middleware's id: the client's X-Request-ID when it sent a usable one.
    request_id = scope.get("state", {}).get("request_id")
    if request_id is None:
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                return value.decode("latin-1")[:128]
    return request_id
