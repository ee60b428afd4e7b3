"""Per-request telemetry: the request id, one JSON access-log line, and HTTP metrics.

A pure ASGI middleware (BaseHTTPMiddleware would buffer streaming responses).
"""

import time
import uuid

import structlog
from prometheus_client import Counter, Gauge, Histogram
from starlette.types import ASGIApp, Receive, Scope, Send

from paneas.gateway.exchange import ExchangeMeter
from paneas.services.runtime import wire
from paneas.services.runtime.metrics import LATENCY_BUCKETS

REQUEST_ID_HEADER = wire.REQUEST_ID.encode()
# Paths that would flood the log and say nothing (scrapes, probes).
_QUIET_PATHS = ("/metrics", "/api/v1/health")

HTTP_REQUESTS = Counter(
    "paneas_gateway_http_requests_total",
    "HTTP requests handled by the gateway.",
    ["route", "method", "status"],
)
HTTP_SECONDS = Histogram(
    "paneas_gateway_http_request_duration_seconds",
    "Time from request start to the end of the response body.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
HTTP_IN_FLIGHT = Gauge("paneas_gateway_http_in_flight", "HTTP requests in progress.")

log = structlog.get_logger("paneas.gateway.access")


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            text = value.decode("latin-1")
            if 0 < len(text) <= 128 and text.isprintable():
                return text
    return uuid.uuid4().hex


# Label values must come from a closed set: a label per raw method would let any client
# grow /metrics without bound with made-up method names (uvicorn accepts any token).
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"


def method_label(method: str) -> str:
    """The request method, or `other` for anything outside the standard ones."""
    return method if method in KNOWN_METHODS else OTHER_METHOD


def route_template(scope: Scope) -> str:
    """The matched route's path template (bounded label values), set by the router."""
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


class RequestTelemetryMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        # Routes read it to pass it on as gRPC metadata.
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        exchange = ExchangeMeter(receive, send, [(REQUEST_ID_HEADER, request_id.encode("latin-1"))])

        HTTP_IN_FLIGHT.inc()
        try:
            await self.app(scope, exchange.receive, exchange.send)
        finally:
            HTTP_IN_FLIGHT.dec()
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            method = method_label(scope["method"])
            HTTP_REQUESTS.labels(route, method, str(exchange.status)).inc()
            HTTP_SECONDS.labels(route, method).observe(elapsed)
            if scope["path"] not in _QUIET_PATHS:
                client = scope.get("client")
                log.info(
                    "http",
                    method=method,
                    path=scope["path"],
                    route=route,
                    status=exchange.status,
                    duration_ms=round(elapsed * 1000, 2),
                    bytes_in=exchange.bytes_in,
                    bytes_out=exchange.bytes_out,
                    client=client[0] if client else None,
                )
            structlog.contextvars.unbind_contextvars("request_id")
