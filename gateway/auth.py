"""Bearer-token authentication for REST routes (the same API_TOKENS as gRPC)."""

from fastapi import Request
from starlette.exceptions import HTTPException

from paneas.services.runtime.auth import token_is_valid

CHALLENGE = {"WWW-Authenticate": "Bearer"}


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def require_token(request: Request) -> str:
    """FastAPI dependency: the caller's token, or 401."""
    token = _bearer(request)
    if token is None:
        raise HTTPException(
            401, "missing bearer token: send 'Authorization: Bearer <token>'", CHALLENGE
        )
    if not token_is_valid(token, request.app.state.api_tokens):
        raise HTTPException(401, "invalid bearer token", CHALLENGE)
    return token
