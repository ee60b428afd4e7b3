"""Piper (VITS, ONNX): fast English; any Piper .onnx voice, or the packaged en_US joe."""

import json
from pathlib import Path

import numpy as np
import onnxruntime

from paneas.services.tts.assets import packaged_piper
from paneas.services.tts.engines.base import EngineError, Gender, VoiceSpec
from paneas.services.tts.settings import PiperVoiceConfig

_GENDERS = {"female": Gender.FEMALE, "male": Gender.MALE, "neutral": Gender.NEUTRAL}


def model_path(model: str) -> Path:
    if model.startswith("packaged:"):
        return packaged_piper(model.removeprefix("packaged:"))
    path = Path(model).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"Piper voice {model}: no such file (give a Piper .onnx path)")
    if not Path(f"{path}.json").is_file():
        raise FileNotFoundError(f"Piper voice {model}: its config {path}.json is missing")
    return path


class PiperEngine:
    kind = "piper"

    def __init__(self, voices: dict[str, PiperVoiceConfig], threads: int) -> None:
        self._configs = voices
        self._threads = threads
        self._voices: dict[str, object] = {}
        self._specs: list[VoiceSpec] = []

    def load(self) -> None:
        from piper import PiperVoice
        from piper.config import PiperConfig

        for name, config in self._configs.items():
            path = model_path(config.model)
            meta = json.loads(Path(f"{path}.json").read_text(encoding="utf-8"))
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = self._threads
            voice = PiperVoice(
                session=onnxruntime.InferenceSession(
                    str(path), sess_options=options, providers=["CPUExecutionProvider"]
                ),
                config=PiperConfig.from_dict(meta),
            )
            language = config.language or meta.get("language", {}).get("code", "")
            language = language.replace("_", "-") or voice.config.espeak_voice
            speaker = None
            if config.speaker:
                speakers = voice.config.speaker_id_map
                speaker = speakers.get(config.speaker)
                if speaker is None and config.speaker.isdigit():
                    speaker = int(config.speaker)
                if speaker is None:
                    raise ValueError(
                        f"Piper voice {name}: no speaker {config.speaker!r}; it has "
                        f"{sorted(speakers) or 'one speaker'}"
                    )
            self._voices[name] = (voice, speaker)
            self._specs.append(
                VoiceSpec(
                    name=name,
                    engine=self.kind,
                    languages=[language],
                    sample_rate=voice.config.sample_rate,
                    gender=_GENDERS.get(config.gender, Gender.UNSPECIFIED),
                    engine_voice=str(path),
                )
            )

    def voices(self) -> list[VoiceSpec]:
        return list(self._specs)

    def synthesize(self, text: str, voice: VoiceSpec, language: str, speed: float) -> np.ndarray:
        from piper import SynthesisConfig

        piper_voice, speaker = self._voices[voice.name]
        config = SynthesisConfig(
            speaker_id=speaker,
            # Piper stretches phoneme durations itself, at any rate.
            length_scale=piper_voice.config.length_scale / speed,
            volume=0.9,
        )
        try:
            chunks = [chunk.audio_float_array for chunk in piper_voice.synthesize(text, config)]
        except Exception as error:  # noqa: BLE001 - Piper raises bare errors on odd input
            raise EngineError(f"Piper failed on this text: {error}") from error
        return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
