"""Audio format names as the HTTP routes take them, as `AudioFormat`s and media types."""

from typing import Literal

from paneas.tts.v1 import tts_pb2

FormatName = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]

AUDIO_FORMATS: dict[str, int] = {
    "mp3": tts_pb2.AUDIO_FORMAT_MP3,
    "opus": tts_pb2.AUDIO_FORMAT_OPUS,
    "aac": tts_pb2.AUDIO_FORMAT_AAC,
    "flac": tts_pb2.AUDIO_FORMAT_FLAC,
    "wav": tts_pb2.AUDIO_FORMAT_WAV,
    "pcm": tts_pb2.AUDIO_FORMAT_PCM,
}

# What OpenAI's /v1/audio/speech answers with (Opus comes in Ogg, labelled audio/opus).
OPENAI_MEDIA_TYPES: dict[str, str] = {
    "mp3": "audio/mpeg",
    "opus": "audio/opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}

# The stack's own route names the container: browsers play audio/ogg, not audio/opus.
MEDIA_TYPES: dict[str, str] = {**OPENAI_MEDIA_TYPES, "opus": "audio/ogg"}

# OpenAI's `pcm` is 24 kHz, 16-bit signed little-endian, mono: clients play it at that rate
# because raw PCM has no header to say otherwise.
OPENAI_PCM_SAMPLE_RATE = 24000
