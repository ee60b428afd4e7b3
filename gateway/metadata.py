"""HTTP headers -> gRPC metadata and deadline, as grpc-gateway forwards them."""

import re

from starlette.requests import HTTPConnection, Request

GRPC_METADATA_PREFIX = "grpc-metadata-"
# Forwarded as they are (lower-case names are the gRPC convention).
_PERMANENT = ("authorization",)
# Grpc-Timeout: an integer of at most 8 digits and a unit (gRPC over HTTP/2 spec).
_TIMEOUT = re.compile(r"^(\d{1,8})([HMSmun])$")
_UNIT_SECONDS = {"H": 3600, "M": 60, "S": 1, "m": 1e-3, "u": 1e-6, "n": 1e-9}


def grpc_metadata(request: HTTPConnection) -> tuple[tuple[str, str], ...]:
    """For HTTP requests and WebSockets alike."""
    metadata = [(name, request.headers[name]) for name in _PERMANENT if name in request.headers]
    # The telemetry middleware accepted the client's X-Request-ID or made one.
    request_id = getattr(request.state, "request_id", None) or request.headers.get("x-request-id")
    if request_id:
        metadata.append(("x-request-id", request_id))
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


def deadline_seconds(request: Request, default: float) -> float:
    """The route's deadline (`default`, the server's), shortened by a `Grpc-Timeout` header
    when the client asks for less; never lengthened (a client could otherwise hold a backend
    worker for 99,999,999 hours).

    Raises ValueError with a message for a malformed header.
    """
    header = request.headers.get("grpc-timeout")
    if header is None:
        return default
    match = _TIMEOUT.match(header.strip())
    if match is None:
        raise ValueError(
            f"Grpc-Timeout {header!r} is malformed; use an integer and a unit of "
            "H, M, S, m, u or n, e.g. '30S' or '500m'"
        )
    return min(default, int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
