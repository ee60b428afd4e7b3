"""Per-client request rate limits for the REST gateway (see `install_rate_limiting`)."""

import structlog
from fastapi import FastAPI

from paneas.gateway.rate_limit.limiter import RequestLimiter, open_storage
from paneas.gateway.rate_limit.middleware import RateLimitMiddleware
from paneas.gateway.rate_limit.routes import GLOBAL
from paneas.gateway.rate_limit.settings import RateLimitSettings

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
    limits = {GLOBAL: settings.global_limit, **settings.class_limits()}
    limiter = RequestLimiter(open_storage(settings.redis_url), limits, settings.window_seconds)
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
        fail_open=settings.fail_open,
    )
