"""Wire models of OpenAI's speech API as the gateway serves it (`POST /v1/audio/speech`).

The request accepts what OpenAI's API reference defines (unknown fields are ignored, so newer
clients keep working); the events are OpenAI's `stream_format: "sse"` events.
"""

from typing import Literal

from pydantic import BaseModel, Field

from paneas.gateway.tts.formats import FormatName


class VoiceId(BaseModel):
    """OpenAI's custom-voice object; here `id` is any voice name of the TTS service."""

    id: str = Field(min_length=1)


class SpeechRequest(BaseModel):
    """`POST /v1/audio/speech`."""

    model: str = Field(
        min_length=1,
        description="tts-1 (Piper), tts-1-hd or gpt-4o-mini-tts (Kokoro), as "
        "GATEWAY_TTS_MODEL_ENGINES maps them; or an engine name: piper, kokoro, espeak",
    )
    input: str = Field(
        min_length=1,
        description="The text to speak, at most the TTS service's limit of characters",
    )
    voice: str | VoiceId = Field(
        description="An OpenAI voice (alloy, ash, ballad, coral, echo, fable, onyx, nova, sage, "
        "shimmer, verse ...), spoken by the model's engine, or a voice name from "
        "GET /api/v1/tts/voices"
    )
    instructions: str | None = Field(
        None,
        description="Accepted for compatibility and ignored: no engine of the stack takes "
        "speaking instructions",
    )
    response_format: FormatName = Field(
        "mp3", description="pcm is 24 kHz, 16-bit signed little-endian, mono, as OpenAI's"
    )
    speed: float = Field(1.0, ge=0.25, le=4.0)
    stream_format: Literal["audio", "sse"] = Field(
        "audio",
        description="audio: the audio bytes, sent as they are synthesised; sse: "
        "speech.audio.delta events, then speech.audio.done",
    )


class SpeechAudioDelta(BaseModel):
    """`stream_format=sse`: one per chunk of audio, in order."""

    type: Literal["speech.audio.delta"] = "speech.audio.delta"
    audio: str = Field(description="Base64 of the next bytes of audio in response_format")


class SpeechUsage(BaseModel):
    """The engines have no tokens: input_tokens counts the input's characters, output_tokens
    the audio's 20 ms frames (50 per second)."""

    input_tokens: int
    output_tokens: int
    total_tokens: int


class SpeechAudioDone(BaseModel):
    """`stream_format=sse`: the last event."""

    type: Literal["speech.audio.done"] = "speech.audio.done"
    usage: SpeechUsage
