"""Bearer-token authentication for gRPC: `authorization: Bearer <token>` metadata."""

import hmac
import secrets
import sys
from collections.abc import Iterable, Sequence

import grpc

from paneas.services.runtime.handlers import Continuation, rejecting_handler


def tokens_or_generated(tokens: Sequence[str], component: str) -> list[str]:
    """The configured tokens, or a fresh random one announced once on stderr (as Jupyter
    does): auth is never silently off."""
    if tokens:
        return list(tokens)
    token = secrets.token_urlsafe(32)
    print(
        f"[{component}] API_TOKENS is not set; generated token for this run: {token}",
        file=sys.stderr,
        flush=True,
    )
    return [token]


def bearer_token(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    for key, value in metadata or ():
        if key.lower() == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


def token_is_valid(token: str | None, accepted: Sequence[str]) -> bool:
    """Constant-time comparison against every accepted token (no early exit)."""
    if token is None:
        return False
    valid = False
    for candidate in accepted:
        valid |= hmac.compare_digest(token.encode(), candidate.encode())
    return valid


class BearerAuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, tokens: Sequence[str], exempt_prefixes: Sequence[str]) -> None:
        if not tokens:
            raise ValueError("BearerAuthInterceptor needs at least one token")
        self._tokens = list(tokens)
        self._exempt = tuple(exempt_prefixes)

    async def intercept_service(
        self,
        continuation: Continuation,
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(self._exempt):
            return handler
        token = bearer_token(handler_call_details.invocation_metadata)
        if token is None:
            return rejecting_handler(
                handler,
                grpc.StatusCode.UNAUTHENTICATED,
                "missing bearer token: send metadata 'authorization: Bearer <token>' "
                "with one of the tokens in API_TOKENS",
            )
        if not token_is_valid(token, self._tokens):
            return rejecting_handler(
                handler, grpc.StatusCode.UNAUTHENTICATED, "invalid bearer token"
            )
        return handler
