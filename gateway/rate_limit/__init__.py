"""Per-client request rate limits for the REST gateway (see `install_rate_limiting`)."""

import structlog
from fastapi import FastAPI

from paneas.gateway.rate_limit.limiter import RequestLimiter, open_storage
from paneas.gateway.rate_limit.middleware import RateLimitMiddleware
from paneas.gateway.rate_limit.routes import GLOBAL, STREAM_HANDSHAKES
from paneas.gateway.rate_limit.settings import RateLimitSettings
from paneas.gateway.rate_limit.streams import StreamLimits, StreamSlots

log = structlog.get_logger("paneas.gateway.rate_limit")


def install_rate_limiting(app: FastAPI) -> None:
    """Adds the rate-limit middleware as configured by `RateLimitSettings`.

    Needs `app.state.api_tokens`: clients with a valid token are counted per token, the
    others per IP address.
    """
    settings = RateLimitSettings()
    if not settings.enabled:
        log.info("rate limiting off (RATE_LIMIT_ENABLED=false)")
        return
    limits = {
        GLOBAL: settings.global_limit,
        **settings.class_limits(),
        STREAM_HANDSHAKES: settings.stream_handshakes,
    }
    storage = open_storage(settings.redis_url)
    limiter = RequestLimiter(storage, limits, settings.window_seconds)
    # WebSockets are not HTTP requests, so the middleware skips them: the live-stream route
    # asks these itself, once it knows the caller's token (a header, subprotocol or ticket).
    app.state.stream_limits = StreamLimits(
        limiter,
        StreamSlots(storage, settings.concurrent_streams),
        settings.window_seconds,
        settings.fail_open,
    )
    app.add_middleware(
        RateLimitMiddleware,
        limiter=limiter,
        tokens=app.state.api_tokens,
        window_seconds=settings.window_seconds,
        fail_open=settings.fail_open,
    )
    log.info(
        "rate limiting on",
        storage="redis" if settings.redis_url else "memory",
        window_seconds=settings.window_seconds,
        limits=limits,
        concurrent_streams=settings.concurrent_streams,
        fail_open=settings.fail_open,
    )
