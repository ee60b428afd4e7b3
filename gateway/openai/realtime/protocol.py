"""The wire models of OpenAI's Realtime API in transcription mode (GA shape, as the `openai`
package's `types/realtime` defines it): the client events the gateway accepts, the session
configuration it echoes, and builders for the server events it sends.

Client events are validated here; fields OpenAI defines that change nothing for a transcription
session (`create_response`, `idle_timeout_ms`, `noise_reduction` ...) are accepted and echoed,
unknown ones ignored, as OpenAI's server does.
"""

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

# Audio formats OpenAI's transcription sessions take: 16-bit PCM at 24 kHz, and G.711 at 8 kHz.
PCM, PCMU, PCMA = "audio/pcm", "audio/pcmu", "audio/pcma"
PCM_RATE = 24_000
G711_RATE = 8_000


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AudioFormat(_Lenient):
    """`audio.input.format`. `rate` is only meaningful for audio/pcm (always 24000)."""

    type: str = PCM
    rate: int | None = None


class Transcription(_Lenient):
    model: str | None = None
    language: str | None = None
    prompt: str | None = None


class TurnDetection(_Lenient):
    """`server_vad` (or `semantic_vad`, served by the same VAD; see `semantic_silence_ms`)."""

    type: Literal["server_vad", "semantic_vad"] = "server_vad"
    threshold: float | None = Field(None, ge=0, le=1)
    prefix_padding_ms: int | None = Field(None, ge=0, le=10_000)
    silence_duration_ms: int | None = Field(None, ge=0, le=60_000)
    eagerness: Literal["low", "medium", "high", "auto"] | None = None
    create_response: bool | None = None
    interrupt_response: bool | None = None
    idle_timeout_ms: int | None = None


class NoiseReduction(_Lenient):
    type: str | None = None
    strength: float | None = None


class AudioInput(_Lenient):
    format: AudioFormat | None = None
    transcription: Transcription | None = None
    # Present and null: manual commits; absent: unchanged. `model_fields_set` tells which.
    turn_detection: TurnDetection | None = None
    noise_reduction: NoiseReduction | None = None


class SessionAudio(_Lenient):
    input: AudioInput | None = None


class TranscriptionSessionUpdate(_Lenient):
    type: str = "transcription"
    audio: SessionAudio | None = None
    include: list[str] | None = None


class ClientEvent(_Lenient):
    type: str
    event_id: str | None = None


class SessionUpdateEvent(ClientEvent):
    session: TranscriptionSessionUpdate


class AppendEvent(ClientEvent):
    audio: str


class ExpiresAfter(_Lenient):
    anchor: Literal["created_at"] = "created_at"
    seconds: Annotated[int, Field(ge=10, le=7200)] = 600


class ClientSecretRequest(_Lenient):
    """POST /v1/realtime/client_secrets."""

    expires_after: ExpiresAfter | None = None
    session: TranscriptionSessionUpdate | None = None


class ClientSecretResponse(BaseModel):
    value: str
    expires_at: int
    session: dict


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def server_event(kind: str, **fields: object) -> dict:
    return {"type": kind, "event_id": new_id("event"), **fields}


def error_event(
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    client_event_id: str | None = None,
    error_type: str = "invalid_request_error",
) -> dict:
    """OpenAI's `error` event; `client_event_id` names the client event that caused it."""
    return server_event(
        "error",
        error={
            "type": error_type,
            "code": code,
            "message": message,
            "param": param,
            "event_id": client_event_id,
        },
    )


def user_item(item_id: str, transcript: str | None, status: str = "completed") -> dict:
    """The user message item a committed buffer becomes: one input_audio content part
    (content_index 0) whose transcript is filled in once transcription completes."""
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "role": "user",
        "status": status,
        "content": [{"type": "input_audio", "transcript": transcript}],
    }
