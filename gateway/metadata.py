"""HTTP headers -> gRPC metadata, as grpc-gateway forwards them (the deadline from
`Grpc-Timeout` is `gateway/calls.py`'s)."""

import uuid

from starlette.requests import HTTPConnection

from paneas.services.runtime import wire

GRPC_METADATA_PREFIX = "grpc-metadata-"
# Forwarded as they are (lower-case names are the gRPC convention).
_PERMANENT = ("authorization",)


def grpc_metadata(request: HTTPConnection) -> tuple[tuple[str, str], ...]:
    """For HTTP requests and WebSockets alike."""
    metadata = [(name, request.headers[name]) for name in _PERMANENT if name in request.headers]
    # The telemetry middleware accepted the client's X-Request-ID or made one.
    request_id = getattr(request.state, "request_id", None) or request.headers.get(wire.REQUEST_ID)
    if request_id:
        metadata.append((wire.REQUEST_ID, request_id))
    for name, value in request.headers.items():
        if name.startswith(GRPC_METADATA_PREFIX) and len(name) > len(GRPC_METADATA_PREFIX):
            metadata.append((name[len(GRPC_METADATA_PREFIX) :], value))
    if request.client is not None:
        forwarded = request.headers.get("x-forwarded-for")
        client = request.client.host
        metadata.append(("x-forwarded-for", f"{forwarded}, {client}" if forwarded else client))
    if "host" in request.headers:
        metadata.append(("x-forwarded-host", request.headers["host"]))
    return tuple(metadata)


def stream_metadata(websocket: HTTPConnection, token: str) -> list[tuple[str, str]]:
    """A live stream's metadata: the token it authenticated with (a query parameter, a
    subprotocol or a ticket, never necessarily a header) and always a request id, which its
    log lines and analytics row carry."""
    metadata = [
        (name, value) for name, value in grpc_metadata(websocket) if name != "authorization"
    ]
    metadata.append(("authorization", f"Bearer {token}"))
    if not any(name == wire.REQUEST_ID for name, _ in metadata):
        metadata.append((wire.REQUEST_ID, uuid.uuid4().hex))
    return metadata
