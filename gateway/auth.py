"""Bearer-token authentication for REST routes (the same API_TOKENS as gRPC).

Two layers, on purpose: `AuthenticationMiddleware` refuses a request to a protected route
from its headers alone, before anything reads its body (FastAPI reads and parses the body
before it resolves a route's dependencies, so a dependency alone lets an anonymous client make
the gateway buffer and parse 50 MB); `require_token` stays on the routes as the dependency
that hands the token to the routes that need it and keeps each route protected on its own.
"""

import hashlib
from collections.abc import Sequence

import grpc
from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from paneas.gateway.errors import error_response
from paneas.services.runtime.auth import bearer_token, token_is_valid

CHALLENGE = {"WWW-Authenticate": "Bearer"}
MISSING_TOKEN = "missing bearer token: send 'Authorization: Bearer <token>'"
INVALID_TOKEN = "invalid bearer token"


async def require_token(request: Request) -> str:
    """FastAPI dependency: the caller's token, or 401."""
    token = scope_token(request.scope)
    if token is None:
        raise HTTPException(401, MISSING_TOKEN, CHALLENGE)
    if not token_is_valid(token, request.app.state.api_tokens):
        raise HTTPException(401, INVALID_TOKEN, CHALLENGE)
    return token


def scope_token(scope: Scope) -> str | None:
    """The bearer token in a request's headers, valid or not."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            return bearer_token([("authorization", value.decode("latin-1"))])
    return None


def token_digest(token: str) -> str:
    """Names a caller in Redis keys and analytics rows without storing its token."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def caller_is_authenticated(request: Request) -> bool:
    """For public routes that show more to a caller with a valid token."""
    return token_is_valid(scope_token(request.scope), request.app.state.api_tokens)


def _depends_on_require_token(dependant: Dependant) -> bool:
    return any(
        dependency.call is require_token or _depends_on_require_token(dependency)
        for dependency in dependant.dependencies
    )


def _is_protected(context: RouteContext) -> bool:
    # The effective dependant: the route's own dependencies and its routers' (FastAPI keeps
    # included routers as branches, so the app's route list alone is not every route).
    return isinstance(context.original_route, APIRoute) and _depends_on_require_token(
        context.dependant
    )


class AuthenticationMiddleware:
    """Answers 401 to an HTTP request for a route that depends on `require_token` when its
    headers carry no valid token, without reading its body. OpenAI's error body on `/v1/`,
    google.rpc.Status elsewhere, as every refusal (`gateway.errors.error_response`).

    WebSockets pass: the live-stream route authenticates its handshake itself (a header, a
    subprotocol or a single-use ticket) before accepting, and reads nothing before that.
    """

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute], tokens: Sequence[str]) -> None:
        self.app = app
        # The app's own list: routes added after this middleware (analytics) are in it by the
        # first request, when the protected ones are picked out.
        self._routes = routes
        self._protected: list[RouteContext] | None = None
        self._tokens = tokens

    def _protected_route(self, scope: Scope) -> BaseRoute | None:
        if self._protected is None:
            self._protected = [
                context for context in iter_route_contexts(self._routes) if _is_protected(context)
            ]
        for context in self._protected:
            # PARTIAL: the path matches but not the method. Still 401 without a token, so
            # that anonymous callers learn nothing about the route.
            if context.matches(scope)[0] is not Match.NONE:
                return context.original_route
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = self._protected_route(scope)
        if route is None:
            await self.app(scope, receive, send)
            return
        token = scope_token(scope)
        if token_is_valid(token, self._tokens):
            await self.app(scope, receive, send)
            return
        # Metrics and analytics then name the route, as for a 401 from the dependency.
        scope["route"] = route
        message = MISSING_TOKEN if token is None else INVALID_TOKEN
        refusal = error_response(
            scope["path"], 401, grpc.StatusCode.UNAUTHENTICATED, message, CHALLENGE
        )
        await refusal(scope, receive, send)
