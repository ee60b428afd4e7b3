"""The TTS service's voices (ListVoices, kept for a few seconds) and how a speech request
chooses one.

`POST /v1/audio/speech` names an OpenAI model (`tts-1` ...) and an OpenAI voice (`alloy` ...)
or a native one (`af_heart`, `joe` ...). The service knows each voice's engine and the OpenAI
names it answers to (`Voice.aliases`); the gateway's `tts_model_engines` says which engine
each OpenAI model means (tts-1: Piper, fast; tts-1-hd: Kokoro). Resolution happens here, with
the service's own list, so the name sent to the service is always one of its voices.
"""

import time
import zlib
from collections.abc import Iterable, Mapping

from starlette.requests import Request

from paneas.gateway.calls import unless_disconnected
from paneas.gateway.metadata import grpc_metadata
from paneas.tts.v1 import tts_pb2

LIST_VOICES = "/paneas.tts.v1.TtsService/ListVoices"

# Voices only change when the service restarts; a few seconds of staleness spares every
# request a round trip.
_FRESH_SECONDS = 30.0


class VoiceCatalogue:
    """ListVoices of the TTS service, asked at most every `_FRESH_SECONDS`."""

    def __init__(self) -> None:
        self._voices: tts_pb2.ListVoicesResponse | None = None
        self._fetched_at = 0.0

    async def voices(self, request: Request, deadline: float) -> tts_pb2.ListVoicesResponse:
        """The service's voices; a failed call raises its `grpc.aio.AioRpcError`."""
        if self._voices is not None and time.monotonic() - self._fetched_at < _FRESH_SECONDS:
            return self._voices
        call = request.app.state.backends.tts.ListVoices(
            tts_pb2.ListVoicesRequest(), metadata=grpc_metadata(request), timeout=deadline
        )
        self._voices = await unless_disconnected(request, call, call)
        self._fetched_at = time.monotonic()
        return self._voices


def engines(voices: Iterable[tts_pb2.Voice]) -> list[str]:
    return sorted({voice.engine for voice in voices})


def model_engine(
    model: str, voices: Iterable[tts_pb2.Voice], model_engines: Mapping[str, str]
) -> str | None:
    """The engine an OpenAI model name (or an engine name) means; None when it is neither."""
    if model in model_engines:
        return model_engines[model]
    return model if model in engines(voices) else None


def find_voice(name: str, engine: str, voices: Iterable[tts_pb2.Voice]) -> tts_pb2.Voice | None:
    """The voice a request names.

    A native name is that voice, whatever the model. An OpenAI name (case-blind) speaks with
    the model's `engine`: the voice it is an alias of when that voice is the engine's;
    otherwise one of the engine's voices, of the alias's gender and language where the engine
    has one (the same voice for the same name every time). When the engine has no voices
    here, the alias's own voice speaks.
    """
    voices = list(voices)
    for voice in voices:
        if voice.name == name:
            return voice
    wanted = name.lower()
    answering = [voice for voice in voices if wanted in (alias.lower() for alias in voice.aliases)]
    if not answering:
        return None
    for voice in answering:
        if voice.engine == engine:
            return voice
    own = answering[0]
    engine_voices = sorted(
        (voice for voice in voices if voice.engine == engine), key=lambda voice: voice.name
    )
    if not engine_voices:
        return own
    language = _language(own)
    for candidates in (
        [v for v in engine_voices if v.gender == own.gender and _language(v) == language],
        [v for v in engine_voices if v.gender == own.gender],
        [v for v in engine_voices if _language(v) == language],
        engine_voices,
    ):
        if candidates:
            return candidates[zlib.crc32(wanted.encode()) % len(candidates)]
    return own


def _language(voice: tts_pb2.Voice) -> str:
    """The primary language subtag of a voice's first language ("en" for en-US)."""
    codes = list(voice.language_codes)
    return codes[0].replace("_", "-").split("-")[0].lower() if codes else ""


def voice_names(voices: Iterable[tts_pb2.Voice]) -> str:
    """Every name a request may give, for error messages: OpenAI names, then native ones."""
    voices = list(voices)
    aliases = sorted({alias for voice in voices for alias in voice.aliases})
    native = sorted(voice.name for voice in voices)
    if aliases:
        return f"{', '.join(aliases)} (OpenAI names) or {', '.join(native)}"
    return ", ".join(native)
