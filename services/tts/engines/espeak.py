"""espeak-ng (the Debian package's CLI): robotic but always there, and in ~100 languages.

Rates: espeak-ng speaks 80-450 words per minute (175 is its normal); speeds beyond that
range get the rest as a pitch-preserving tempo change.
"""

import shutil
import subprocess

import numpy as np

from paneas.services.tts.encoding import stretch
from paneas.services.tts.engines.base import EngineError, Gender, VoiceSpec

SAMPLE_RATE = 22050
_NORMAL_WPM = 175
_WPM_RANGE = (80, 450)
_TIMEOUT_SECONDS = 60


def bcp47(espeak_id: str) -> str:
    """'pt-br' -> 'pt-BR', 'en-us' -> 'en-US', 'es' -> 'es'."""
    language, _, region = espeak_id.partition("-")
    return f"{language}-{region.upper()}" if region else language


class EspeakEngine:
    kind = "espeak"

    def __init__(self, voices: list[str]) -> None:
        self._ids = voices
        self._binary = ""
        self._specs: list[VoiceSpec] = []

    def load(self) -> None:
        self._binary = shutil.which("espeak-ng") or ""
        if not self._binary:
            raise FileNotFoundError(
                "espeak-ng is not installed: run scripts/setup.sh (apt-get install espeak-ng), "
                "or leave espeak out of TTS_ENGINES"
            )
        known = subprocess.run(
            [self._binary, "--voices"], capture_output=True, text=True, check=True
        ).stdout
        languages = {line.split()[1] for line in known.splitlines()[1:] if len(line.split()) > 1}
        for espeak_id in self._ids:
            if espeak_id not in languages:
                raise ValueError(
                    f"espeak-ng has no voice {espeak_id!r} (TTS_ESPEAK_VOICES); "
                    "see `espeak-ng --voices`"
                )
            self._specs.append(
                VoiceSpec(
                    name=f"espeak-{espeak_id}",
                    engine=self.kind,
                    languages=[bcp47(espeak_id)],
                    sample_rate=SAMPLE_RATE,
                    # espeak-ng's default variant of every language is male.
                    gender=Gender.MALE,
                    engine_voice=espeak_id,
                )
            )

    def voices(self) -> list[VoiceSpec]:
        return list(self._specs)

    def synthesize(self, text: str, voice: VoiceSpec, language: str, speed: float) -> np.ndarray:
        wpm = min(max(round(_NORMAL_WPM * speed), _WPM_RANGE[0]), _WPM_RANGE[1])
        # Text on stdin: never an argument espeak-ng could read as an option.
        result = subprocess.run(
            [self._binary, "-v", voice.engine_voice, "-s", str(wpm), "--stdin", "--stdout"],
            input=text.encode("utf-8"),
            capture_output=True,
            timeout=_TIMEOUT_SECONDS,
        )
        if result.returncode != 0:
            raise EngineError(f"espeak-ng failed: {result.stderr.decode(errors='replace')}")
        wav = result.stdout
        # espeak-ng writes a streaming header (sizes unknown): the samples follow "data"+size.
        start = wav.find(b"data")
        if start < 0:
            raise EngineError("espeak-ng produced no audio")
        samples = np.frombuffer(wav[start + 8 :][: (len(wav) - start - 8) // 2 * 2], "<i2")
        audio = samples.astype(np.float32) / 32768.0
        return stretch(audio, SAMPLE_RATE, speed * _NORMAL_WPM / wpm)
