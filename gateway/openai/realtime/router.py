"""OpenAI's Realtime API in transcription mode, on the live ASR engine.

- `WS /v1/realtime?intent=transcription`: the session (protocol in `serving`).
- `POST /v1/realtime/client_secrets`: an ephemeral client secret (`ek_...`) for a browser.

Credentials, as OpenAI takes them: `Authorization: Bearer <token or client secret>`, or for
browsers (which cannot set headers on a WebSocket) the subprotocols `realtime` and
`openai-insecure-api-key.<token or client secret>`; only `realtime` is echoed back. A client
secret is a ticket of the live stream's ticket book (`paneas.gateway.asr.tickets`): bound to
the token that minted it, single use, short-lived (`expires_after.seconds`, 10-600 s, default
GATEWAY_TICKET_TTL_SECONDS). Unauthenticated handshakes are refused with HTTP 401 and OpenAI's
error body, before the socket is accepted.

The stream limits, gauge and counters are the native live stream's (`routers.asr_stream`),
and so is shutdown: handshakes refused with 503, open sessions finishing their last turn
(`paneas.gateway.shutdown`).
"""

import contextlib
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated

import grpc
import structlog
from fastapi import APIRouter, Body, Depends, Request, WebSocket
from fastapi.responses import JSONResponse

from paneas.gateway.asr.stream import TRY_AGAIN_LATER, Outcome, record_stream_usage
from paneas.gateway.asr.tickets import Redemption
from paneas.gateway.auth import CHALLENGE, require_token
from paneas.gateway.errors import HTTP_STATUS_BY_CODE, error_response
from paneas.gateway.metadata import stream_metadata
from paneas.gateway.openai.errors import openai_error_body
from paneas.gateway.openai.realtime.protocol import (
    ClientSecretRequest,
    ClientSecretResponse,
    TranscriptionSessionUpdate,
    error_event,
)
from paneas.gateway.openai.realtime.serving import (
    ClientMistake,
    RealtimeSession,
    SessionConfig,
    apply_update,
)
from paneas.gateway.rate_limit.limiter import address_identity, caller_identity
from paneas.gateway.rate_limit.streams import StreamLease, StreamRefused
from paneas.gateway.routers.asr_stream import ACTIVE_STREAMS, STREAMS, refuse_while_draining
from paneas.services.runtime import wire
from paneas.services.runtime.auth import bearer_token, token_is_valid

ROUTE = "/v1/realtime"
RPC = "/paneas.asr.v1.AsrService/StreamingRecognize"
SUBPROTOCOL = "realtime"
KEY_SUBPROTOCOL = "openai-insecure-api-key."
CLIENT_SECRET_PREFIX = "ek_"
MAX_SECRET_SECONDS = 600

log = structlog.get_logger("paneas.gateway.realtime")
router = APIRouter()


class Refused(Exception):
    pass


def _token_of(websocket: WebSocket, credential: str) -> Redemption:
    state = websocket.app.state
    if credential.startswith(CLIENT_SECRET_PREFIX):
        redeemed = state.tickets.redeem(credential[len(CLIENT_SECRET_PREFIX) :], state.api_tokens)
        if redeemed is None:
            raise Refused(
                "invalid, expired or already used client secret (each works once); mint a "
                "new one with POST /v1/realtime/client_secrets"
            )
        return redeemed
    if not token_is_valid(credential, state.api_tokens):
        raise Refused("invalid API key")
    return Redemption(credential, None)


def credentials(websocket: WebSocket) -> Redemption:
    """The caller's token, from the header or the browser subprotocol, and the session a
    client secret was minted with; else Refused."""
    header = websocket.headers.get("authorization")
    if header is not None:
        credential = bearer_token([("authorization", header)])
        if not credential:
            raise Refused("malformed Authorization header: send 'Authorization: Bearer <key>'")
        return _token_of(websocket, credential)
    offered = [
        name[len(KEY_SUBPROTOCOL) :]
        for name in websocket.scope.get("subprotocols", [])
        if name.startswith(KEY_SUBPROTOCOL)
    ]
    if offered:
        return _token_of(websocket, offered[0])
    raise Refused(
        "missing credentials: send 'Authorization: Bearer <key>', or offer the subprotocols "
        "'realtime' and 'openai-insecure-api-key.<key>' (a browser: use a client secret from "
        "POST /v1/realtime/client_secrets as the key)"
    )


def _minted_config(session: dict | None) -> SessionConfig:
    """The configuration a client secret was minted with (validated then), or the default."""
    if session is None:
        return SessionConfig()
    return apply_update(SessionConfig(), TranscriptionSessionUpdate.model_validate(session))


async def _deny(websocket: WebSocket, status: int, message: str, headers: dict) -> None:
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        code = (
            grpc.StatusCode.UNAUTHENTICATED if status == 401 else grpc.StatusCode.INVALID_ARGUMENT
        )
        if status == 429:
            code = grpc.StatusCode.RESOURCE_EXHAUSTED
        await websocket.send_denial_response(error_response(ROUTE, status, code, message, headers))
    else:
        await websocket.close(1008, message[:120])


@router.websocket(ROUTE, name="openai_realtime")
async def realtime(websocket: WebSocket) -> None:
    started, occurred_at = time.perf_counter(), datetime.now(UTC).replace(tzinfo=None)
    if websocket.app.state.live_streams.draining:
        await refuse_while_draining(websocket)
        STREAMS.labels("shutting_down").inc()
        return
    intent = websocket.query_params.get("intent", "transcription")
    if intent != "transcription":
        await _deny(
            websocket,
            400,
            f'intent "{intent}" is not served here: this gateway offers transcription '
            "sessions only; connect with ?intent=transcription",
            {},
        )
        STREAMS.labels("client_error").inc()
        return
    state = websocket.app.state
    limits = getattr(state, "stream_limits", None)  # None: RATE_LIMIT_ENABLED=false
    try:
        token, minted_session = credentials(websocket)
    except Refused as refusal:
        # Failed attempts count against the address, as on the native stream: guessing keys
        # or client secrets is rate limited.
        client = websocket.scope.get("client")
        try:
            if limits is not None:
                await limits.count_handshake(address_identity(client))
        except StreamRefused as over:
            await _deny(websocket, 429, over.message, {"Retry-After": str(over.retry_after)})
            STREAMS.labels("rate_limited").inc()
            return
        await _deny(websocket, 401, str(refusal), CHALLENGE)
        STREAMS.labels("unauthenticated").inc()
        return
    if limits is not None:
        try:
            await limits.count_handshake(caller_identity(token))
        except StreamRefused as refusal:
            await _deny(websocket, 429, refusal.message, {"Retry-After": str(refusal.retry_after)})
            STREAMS.labels("rate_limited").inc()
            return
    offered = websocket.scope.get("subprotocols", [])
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    lease: StreamLease | None = None
    if limits is not None:
        try:
            lease = await limits.open_stream(caller_identity(token))
        except StreamRefused as refusal:
            with contextlib.suppress(Exception):
                await websocket.send_json(
                    error_event(refusal.message, code="rate_limit_exceeded", error_type="requests")
                )
                await websocket.close(TRY_AGAIN_LATER)
            STREAMS.labels("too_many_streams").inc()
            return
    settings = state.settings
    metadata = stream_metadata(websocket, token)
    session = RealtimeSession(
        websocket,
        state.backends.asr,
        metadata,
        model_aliases=settings.asr_model_aliases,
        buffer_bytes=settings.asr_stream_buffer_bytes,
        idle_seconds=settings.asr_stream_idle_seconds,
        drain_seconds=settings.asr_stream_drain_seconds,
        # Half a WebSocket frame: an append over it still arrives, and is refused in words.
        max_append_bytes=settings.asr_stream_max_frame_bytes // 2,
        config=_minted_config(minted_session),
    )
    ACTIVE_STREAMS.inc()
    try:
        with state.live_streams.track(session):
            outcome = await session.run()
    finally:
        ACTIVE_STREAMS.dec()
        if lease is not None:
            await lease.release()
    STREAMS.labels(outcome.kind).inc()
    log.info(
        "realtime session",
        session_id=outcome.session_id,
        instance=outcome.instance,
        request_id=dict(metadata)[wire.REQUEST_ID],
        outcome=outcome.kind,
        close_code=outcome.close_code,
        status=outcome.status.name if outcome.status else None,
        audio_seconds=round(outcome.audio_seconds, 3),
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
    )
    _record(websocket, token, outcome, started, occurred_at, dict(metadata)[wire.REQUEST_ID])


def _http_status(outcome: Outcome) -> int:
    """The HTTP status that says the same, for analytics."""
    # Leaving is how a Realtime client ends its session (there is no stop event): not an error.
    if outcome.kind in ("completed", "client_disconnected"):
        return 200
    if outcome.kind == "client_error":
        return 400
    return HTTP_STATUS_BY_CODE.get(outcome.status, 500)


def _record(
    websocket: WebSocket,
    token: str,
    outcome: Outcome,
    started: float,
    occurred_at: datetime,
    request_id: str,
) -> None:
    record_stream_usage(
        websocket,
        route=ROUTE,
        rpc=RPC,
        status=_http_status(outcome),
        outcome=outcome,
        token=token,
        started=started,
        occurred_at=occurred_at,
        request_id=request_id,
    )


@router.post(
    "/v1/realtime/client_secrets",
    summary="An ephemeral, single-use client secret for WS /v1/realtime (browsers)",
    response_model=ClientSecretResponse,
    responses={400: {"description": "invalid session configuration"}},
)
async def client_secret(
    request: Request,
    token: Annotated[str, Depends(require_token)],
    body: Annotated[ClientSecretRequest | None, Body()] = None,
):
    body = body or ClientSecretRequest()
    config = SessionConfig()
    if body.session is not None:
        try:
            config = apply_update(config, body.session)
        except ClientMistake as mistake:
            return JSONResponse(
                openai_error_body(400, mistake.message, param=mistake.param, code=mistake.code),
                status_code=400,
            )
    state = request.app.state
    seconds = (
        min(body.expires_after.seconds, MAX_SECRET_SECONDS)
        if body.expires_after is not None
        else state.settings.ticket_ttl_seconds
    )
    # The session rides in the secret (signed): the socket that redeems it starts with it.
    ticket, expires_in = state.tickets.issue(
        token,
        ttl_seconds=seconds,
        session=body.session.model_dump(mode="json", exclude_unset=True) if body.session else None,
    )
    expires_at = int(time.time()) + expires_in
    return ClientSecretResponse(
        value=CLIENT_SECRET_PREFIX + ticket,
        expires_at=expires_at,
        session=config.describe(f"sess_{uuid.uuid4().hex[:24]}", expires_at),
    )
