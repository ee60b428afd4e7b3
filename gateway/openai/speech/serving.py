"""The call behind POST /v1/audio/speech: the voice chosen from ListVoices, then
StreamSynthesize, whose chunks leave as raw audio or as OpenAI's server-sent events as soon
as each sentence is synthesised. Every error leaves as OpenAI's error body."""

import base64
from collections.abc import AsyncIterator

import grpc
from fastapi import Request
from fastapi.responses import Response

from paneas.gateway import calls
from paneas.gateway.errors import (
    HTTP_STATUS_BY_CODE,
    grpc_error_message,
    openai_stream_error,
    retry_after_seconds,
)
from paneas.gateway.metadata import grpc_metadata
from paneas.gateway.openai.errors import OpenAIError
from paneas.gateway.openai.speech.protocol import (
    SpeechAudioDelta,
    SpeechAudioDone,
    SpeechRequest,
    SpeechUsage,
)
from paneas.gateway.tts import voices as catalogue
from paneas.gateway.tts.formats import AUDIO_FORMATS, OPENAI_MEDIA_TYPES, OPENAI_PCM_SAMPLE_RATE
from paneas.gateway.tts.streaming import AudioStream, StreamBroken
from paneas.gateway.usage import Usage, usage_of
from paneas.tts.v1 import tts_pb2

STREAM_SYNTHESIZE = "/paneas.tts.v1.TtsService/StreamSynthesize"
# Headers of a successful answer.
VOICE_HEADER = "x-paneas-voice"
SAMPLE_RATE_HEADER = "x-sample-rate"
# SpeechUsage.output_tokens per second of audio.
_FRAMES_PER_SECOND = 50


def tts_error(error: grpc.aio.AioRpcError, *, param: str | None = None) -> OpenAIError:
    code = error.code()
    retry_after = retry_after_seconds(error)
    return OpenAIError(
        HTTP_STATUS_BY_CODE.get(code, 500),
        grpc_error_message(error, "tts"),
        param=param,
        headers={"Retry-After": str(retry_after)} if retry_after is not None else None,
    )


async def speak(request: Request, body: SpeechRequest) -> Response:
    if not body.input.strip():
        raise OpenAIError(400, "input has no text to speak", param="input")
    state = request.app.state
    deadline = calls.deadline(request, state.settings.tts_timeout_seconds)
    voice = await _voice(request, body, deadline)
    pcm = body.response_format == "pcm"
    call = state.backends.tts.StreamSynthesize(
        tts_pb2.StreamSynthesizeRequest(
            text=body.input,
            voice=voice.name,
            format=AUDIO_FORMATS[body.response_format],
            speed=body.speed,
            sample_rate_hertz=OPENAI_PCM_SAMPLE_RATE if pcm else 0,
        ),
        metadata=grpc_metadata(request),
        timeout=deadline,
    )
    # A text the service refuses (too long, nothing to say) gets its HTTP status, not a 200
    # that breaks off.
    try:
        chunks = await calls.server_stream(request, call, STREAM_SYNTHESIZE)
    except grpc.aio.AioRpcError as error:
        raise tts_error(error, param="input" if _about_input(error) else None) from None
    usage = usage_of(request)
    usage.characters = len(body.input)
    headers = {VOICE_HEADER: voice.name}
    if pcm:
        headers[SAMPLE_RATE_HEADER] = str(OPENAI_PCM_SAMPLE_RATE)
    if body.stream_format == "sse":
        return _sse(chunks, call, usage, headers)
    return AudioStream(
        _audio(chunks),
        media_type=OPENAI_MEDIA_TYPES[body.response_format],
        headers=headers,
        close=call.cancel,
    )


async def _voice(request: Request, body: SpeechRequest, deadline: float) -> tts_pb2.Voice:
    state = request.app.state
    try:
        listed = await state.tts_voices.voices(request, deadline)
    except grpc.aio.AioRpcError as error:
        raise tts_error(error) from None
    model = body.model.strip()
    engine = catalogue.model_engine(model, listed.voices, state.settings.tts_model_engines)
    if engine is None:
        known = sorted({*state.settings.tts_model_engines, *catalogue.engines(listed.voices)})
        raise OpenAIError(
            404,
            f"The model '{model}' does not exist; use one of {', '.join(known)}",
            param="model",
            code="model_not_found",
        )
    name = body.voice.id if not isinstance(body.voice, str) else body.voice
    voice = catalogue.find_voice(name.strip(), engine, listed.voices)
    if voice is None:
        raise OpenAIError(
            404,
            f"The voice '{name}' does not exist; available voices: "
            f"{catalogue.voice_names(listed.voices)}",
            param="voice",
            code="voice_not_found",
        )
    return voice


def _about_input(error: grpc.aio.AioRpcError) -> bool:
    # The service's INVALID_ARGUMENTs before any audio are about the text (empty, too long,
    # nothing speakable): voice, format and speed were settled by the gateway.
    return error.code() is grpc.StatusCode.INVALID_ARGUMENT


async def _audio(chunks: AsyncIterator[tts_pb2.StreamSynthesizeResponse]) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            if chunk.audio:
                yield chunk.audio
    except grpc.aio.AioRpcError as error:
        raise StreamBroken(error) from None


def _sse(
    chunks: AsyncIterator[tts_pb2.StreamSynthesizeResponse],
    call: grpc.aio.UnaryStreamCall,
    usage: Usage,
    headers: dict[str, str],
) -> Response:
    async def events() -> AsyncIterator[dict]:
        async for chunk in chunks:
            if chunk.audio:
                audio = base64.b64encode(chunk.audio).decode("ascii")
                yield SpeechAudioDelta(audio=audio).model_dump()
        # Recorded from every chunk as it passed (`gateway/usage.py`).
        characters, frames = usage.characters, round(usage.audio_seconds * _FRAMES_PER_SECOND)
        tokens = SpeechUsage(
            input_tokens=characters, output_tokens=frames, total_tokens=characters + frames
        )
        yield SpeechAudioDone(usage=tokens).model_dump()

    # Cancelling the call when the stream ends or the client leaves stops the synthesis.
    return calls.sse_response(
        events(), call, lambda error: openai_stream_error(error, "tts"), headers=headers
    )
