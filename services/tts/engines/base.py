"""The one small protocol every TTS engine speaks.

An engine loads once per process (`load`, in a worker thread at start), says which voices it
has (`voices`), and turns one sentence into mono float32 samples in [-1, 1] at the voice's
natural rate (`synthesize`). It is synchronous and CPU-bound: the servicer calls it from its
bounded worker pool, one sentence at a time, so a cancelled stream stops between sentences.
"""

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Protocol

import numpy as np


class Gender(IntEnum):
    # Same numbers as paneas.tts.v1.Gender.
    UNSPECIFIED = 0
    FEMALE = 1
    MALE = 2
    NEUTRAL = 3


@dataclass
class VoiceSpec:
    name: str
    engine: str
    # BCP-47; the first is the voice's own language.
    languages: list[str]
    sample_rate: int
    gender: Gender = Gender.UNSPECIFIED
    # What the engine needs to find it: a Piper model path, a Kokoro style name, an espeak id.
    engine_voice: str = ""
    aliases: list[str] = field(default_factory=list)


class EngineError(Exception):
    """The engine failed on a request; the message says what happened."""


class TtsEngine(Protocol):
    kind: str

    def load(self) -> None:
        """Loads models (once per process; blocking)."""

    def voices(self) -> list[VoiceSpec]:
        """The voices this engine can speak with (after `load`)."""

    def synthesize(self, text: str, voice: VoiceSpec, language: str, speed: float) -> np.ndarray:
        """One sentence as float32 samples at `voice.sample_rate`, spoken at `speed` (0.25-4)."""
