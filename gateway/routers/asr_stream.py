"""WS /api/v1/asr/stream: live transcription over a WebSocket (protocol in
`paneas.gateway.asr.stream`).

Browsers cannot set headers on a WebSocket, so besides `Authorization: Bearer <token>` the
route accepts the token as an offered subprotocol `bearer.<token>` (next to `paneas.asr.v1`,
the only subprotocol echoed back) or a ticket from POST /api/v1/asr/stream/tickets as
`?ticket=`. Tokens themselves are never read from the URL. Unauthenticated clients are
refused during the handshake (HTTP 401), before the socket is accepted.

Then the caller's live-stream limits (`gateway.rate_limit.streams`, shared by replicas on
Redis): beyond RATE_LIMIT_STREAM_HANDSHAKES per window the handshake is refused with HTTP 429,
before the socket is accepted; beyond RATE_LIMIT_CONCURRENT_STREAMS open streams the socket
is accepted, told why in a RESOURCE_EXHAUSTED error event and closed 1013 (try again later),
which browsers can read, unlike a refused handshake.

While the gateway shuts down, handshakes are refused with HTTP 503 and open streams finish
their last utterance (`paneas.gateway.shutdown`).
"""

import contextlib
import time
from datetime import UTC, datetime

import grpc
import structlog
from fastapi import APIRouter, WebSocket
from prometheus_client import Counter, Gauge

from paneas.gateway.asr.stream import (
    GOING_AWAY,
    POLICY_VIOLATION,
    TRY_AGAIN_LATER,
    Outcome,
    WebSocketBridge,
    record_stream_usage,
)
from paneas.gateway.auth import CHALLENGE
from paneas.gateway.errors import HTTP_STATUS_BY_CODE, error_response, status_response
from paneas.gateway.metadata import stream_metadata
from paneas.gateway.rate_limit.limiter import address_identity, caller_identity
from paneas.gateway.rate_limit.streams import StreamLease, StreamRefused
from paneas.services.runtime import wire
from paneas.services.runtime.auth import bearer_token, token_is_valid

ROUTE = "/api/v1/asr/stream"
RPC = "/paneas.asr.v1.AsrService/StreamingRecognize"
# Subprotocols the route speaks; `bearer.<token>` offers are credentials, never echoed.
SUBPROTOCOLS = ("paneas.asr.v1",)
BEARER_SUBPROTOCOL = "bearer."

ACTIVE_STREAMS = Gauge("paneas_gateway_asr_streams_active", "Live ASR WebSocket streams open now.")
STREAMS = Counter(
    "paneas_gateway_asr_streams_total",
    "Live ASR WebSocket streams, by how they ended.",
    ["outcome"],
)

log = structlog.get_logger("paneas.gateway.asr_stream")
router = APIRouter()


class Refused(Exception):
    pass


def _credentials(websocket: WebSocket) -> str:
    """The caller's valid token, from the header, a subprotocol or a ticket; else Refused."""
    state = websocket.app.state
    tokens = state.api_tokens
    header = websocket.headers.get("authorization")
    if header is not None:
        token = bearer_token([("authorization", header)])
        if not token_is_valid(token, tokens):
            raise Refused("invalid bearer token")
        return token
    offered = [
        name[len(BEARER_SUBPROTOCOL) :]
        for name in websocket.scope.get("subprotocols", [])
        if name.startswith(BEARER_SUBPROTOCOL)
    ]
    if offered:
        if not token_is_valid(offered[0], tokens):
            raise Refused("invalid bearer token in the subprotocol")
        return offered[0]
    params = websocket.query_params
    if "ticket" in params:
        redeemed = state.tickets.redeem(params["ticket"], tokens)
        if redeemed is None:
            raise Refused("invalid, expired or already used ticket; get a new one")
        return redeemed.token
    if {"token", "access_token", "api_key"} & set(params):
        raise Refused(
            "tokens are not accepted in the URL; use a ticket from POST /api/v1/asr/stream/tickets"
        )
    raise Refused(
        "missing credentials: send 'Authorization: Bearer <token>', offer the subprotocol "
        "'bearer.<token>' (with 'paneas.asr.v1'), or connect with ?ticket= from "
        "POST /api/v1/asr/stream/tickets"
    )


async def _refuse(websocket: WebSocket, message: str) -> None:
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(
            status_response(401, grpc.StatusCode.UNAUTHENTICATED, message, CHALLENGE)
        )
    else:
        await websocket.close(POLICY_VIOLATION, "unauthenticated")  # HTTP 403


async def _refuse_handshake(websocket: WebSocket, refusal: StreamRefused) -> None:
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(
            status_response(
                429,
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                refusal.message,
                {"Retry-After": str(refusal.retry_after)},
            )
        )
    else:
        await websocket.close(TRY_AGAIN_LATER, "rate limited")  # HTTP 403


async def refuse_while_draining(websocket: WebSocket) -> None:
    """The gateway is shutting down: HTTP 503 before the upgrade, with the route's error
    body (OpenAI's on /v1/realtime)."""
    message = (
        "the gateway is shutting down and takes no new streams; connect again (another "
        "replica, or this one once restarted)"
    )
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(
            error_response(
                websocket.scope["path"],
                503,
                grpc.StatusCode.UNAVAILABLE,
                message,
                {"Retry-After": "1"},
            )
        )
    else:
        await websocket.close(GOING_AWAY, "shutting down")  # HTTP 403


async def _refuse_stream(websocket: WebSocket, refusal: StreamRefused) -> None:
    await websocket.send_json(
        {
            "event": "error",
            "code": "RESOURCE_EXHAUSTED",
            "message": refusal.message,
            "retry_after": refusal.retry_after,
        }
    )
    await websocket.close(TRY_AGAIN_LATER, "RESOURCE_EXHAUSTED")


@router.websocket(ROUTE, name="asr_stream")
async def asr_stream(websocket: WebSocket) -> None:
    started, occurred_at = time.perf_counter(), datetime.now(UTC).replace(tzinfo=None)
    state = websocket.app.state
    if state.live_streams.draining:
        await refuse_while_draining(websocket)
        STREAMS.labels("shutting_down").inc()
        return
    limits = getattr(state, "stream_limits", None)  # None: RATE_LIMIT_ENABLED=false
    try:
        token = _credentials(websocket)
    except Refused as refusal:
        # Failed attempts count against the address, as for HTTP: guessing is rate limited.
        client = websocket.scope.get("client")
        try:
            if limits is not None:
                await limits.count_handshake(address_identity(client))
        except StreamRefused as over:
            await _refuse_handshake(websocket, over)
            STREAMS.labels("rate_limited").inc()
            _record(websocket, None, 429, started, occurred_at, Outcome(close_code=None), None)
            return
        await _refuse(websocket, str(refusal))
        STREAMS.labels("unauthenticated").inc()
        _record(websocket, None, 401, started, occurred_at, Outcome(close_code=None), None)
        return
    if limits is not None:
        try:
            await limits.count_handshake(caller_identity(token))
        except StreamRefused as refusal:
            await _refuse_handshake(websocket, refusal)
            STREAMS.labels("rate_limited").inc()
            _record(websocket, token, 429, started, occurred_at, Outcome(close_code=None), None)
            return
    offered = websocket.scope.get("subprotocols", [])
    await websocket.accept(subprotocol=next((p for p in offered if p in SUBPROTOCOLS), None))
    lease: StreamLease | None = None
    if limits is not None:
        try:
            lease = await limits.open_stream(caller_identity(token))
        except StreamRefused as refusal:
            with contextlib.suppress(Exception):
                await _refuse_stream(websocket, refusal)
            STREAMS.labels("too_many_streams").inc()
            _record(
                websocket,
                token,
                429,
                started,
                occurred_at,
                Outcome(close_code=TRY_AGAIN_LATER),
                None,
            )
            return
    metadata = stream_metadata(websocket, token)
    session = WebSocketBridge(
        websocket,
        state.backends.asr,
        metadata,
        state.settings.asr_stream_buffer_bytes,
        state.settings.asr_stream_idle_seconds,
        state.settings.asr_stream_drain_seconds,
    )
    ACTIVE_STREAMS.inc()
    try:
        with state.live_streams.track(session):
            outcome = await session.run()
    except Exception:
        log.exception("asr stream failed", session_id=session.outcome.session_id)
        await session.fail_internal()
        outcome = session.outcome
    finally:
        ACTIVE_STREAMS.dec()
        if lease is not None:
            await lease.release()
    STREAMS.labels(outcome.kind).inc()
    request_id = dict(metadata)[wire.REQUEST_ID]
    log.info(
        "asr stream",
        session_id=outcome.session_id,
        instance=outcome.instance,
        request_id=request_id,
        outcome=outcome.kind,
        close_code=outcome.close_code,
        status=outcome.status.name if outcome.status else None,
        audio_seconds=round(outcome.audio_seconds, 3),
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
    )
    _record(websocket, token, _http_status(outcome), started, occurred_at, outcome, request_id)


def _http_status(outcome: Outcome) -> int:
    """The HTTP status that says the same, for analytics."""
    if outcome.kind == "completed":
        return 200
    if outcome.kind == "client_disconnected":
        return 499
    if outcome.kind == "client_error":
        return 400
    return HTTP_STATUS_BY_CODE.get(outcome.status, 500)


def _record(
    websocket: WebSocket,
    token: str | None,
    status: int,
    started: float,
    occurred_at: datetime,
    outcome: Outcome,
    request_id: str | None,
) -> None:
    record_stream_usage(
        websocket,
        route=ROUTE,
        rpc=RPC if token else None,
        status=status,
        outcome=outcome,
        token=token,
        started=started,
        occurred_at=occurred_at,
        request_id=request_id,
    )
