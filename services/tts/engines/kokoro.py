"""Kokoro-82M (int8 ONNX via kokoro-onnx): English, pt-BR and more, 24 kHz.

kokoro-onnx takes speeds of 0.5-2.0; beyond that the rest of the factor is applied as a
pitch-preserving tempo change (FFmpeg atempo).
"""

from pathlib import Path

import numpy as np

from paneas.services.tts import assets
from paneas.services.tts.encoding import stretch
from paneas.services.tts.engines.base import EngineError, Gender, VoiceSpec

SAMPLE_RATE = 24000
# Kokoro's voice-name letter -> (BCP-47, espeak language kokoro-onnx phonemises with).
LANGUAGES = {
    "a": ("en-US", "en-us"),
    "b": ("en-GB", "en-gb"),
    "e": ("es", "es"),
    "f": ("fr-FR", "fr-fr"),
    "h": ("hi", "hi"),
    "i": ("it", "it"),
    "j": ("ja", "ja"),
    "p": ("pt-BR", "pt-br"),
    "z": ("zh", "cmn"),
}
_GENDERS = {"f": Gender.FEMALE, "m": Gender.MALE}
_NATIVE_SPEED = (0.5, 2.0)


def espeak_language(language: str) -> str:
    """BCP-47 -> the espeak language kokoro-onnx wants ('pt-BR' -> 'pt-br', 'pt' -> 'pt-br')."""
    lowered = language.lower().replace("_", "-")
    for bcp47, espeak in LANGUAGES.values():
        if lowered in (bcp47.lower(), espeak):
            return espeak
    family = lowered.split("-")[0]
    for bcp47, espeak in LANGUAGES.values():
        if bcp47.lower().split("-")[0] == family:
            return espeak
    return lowered


class KokoroEngine:
    kind = "kokoro"

    def __init__(self, model: str, voices: str, languages: str, threads: int) -> None:
        self._model = model
        self._voices_path = voices
        self._languages = languages
        self._threads = threads
        self._kokoro = None
        self._specs: list[VoiceSpec] = []

    def _paths(self) -> tuple[Path, Path]:
        model = assets.ensure_kokoro_model() if self._model == "packaged" else Path(self._model)
        voices = Path(self._voices_path)
        if self._voices_path == "packaged":
            voices = assets.ensure_kokoro_voices()
        for what, path in (("model", model), ("voices", voices)):
            if not path.expanduser().is_file():
                raise FileNotFoundError(f"Kokoro {what} {path}: no such file")
        return model.expanduser(), voices.expanduser()

    def load(self) -> None:
        import onnxruntime
        from kokoro_onnx import Kokoro

        model, voices = self._paths()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self._threads
        session = onnxruntime.InferenceSession(
            str(model), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._kokoro = Kokoro.from_session(session, str(voices))
        for name in sorted(self._kokoro.voices.files):
            letter = name[:1]
            if letter not in self._languages or letter not in LANGUAGES:
                continue
            self._specs.append(
                VoiceSpec(
                    name=name,
                    engine=self.kind,
                    languages=[LANGUAGES[letter][0]],
                    sample_rate=SAMPLE_RATE,
                    gender=_GENDERS.get(name[1:2], Gender.UNSPECIFIED),
                    engine_voice=name,
                )
            )

    def voices(self) -> list[VoiceSpec]:
        return list(self._specs)

    def synthesize(self, text: str, voice: VoiceSpec, language: str, speed: float) -> np.ndarray:
        native = min(max(speed, _NATIVE_SPEED[0]), _NATIVE_SPEED[1])
        try:
            audio, _ = self._kokoro.create(
                text, voice=voice.engine_voice, speed=native, lang=espeak_language(language)
            )
        except ValueError as error:
            if "produced no phonemes" in str(error) or "No phonemes" in str(error):
                return np.zeros(0, np.float32)
            raise EngineError(f"Kokoro failed on this text: {error}") from error
        return stretch(np.asarray(audio, dtype=np.float32), SAMPLE_RATE, speed / native)
