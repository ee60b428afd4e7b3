"""ASR quality: word error rate of our REST and gRPC paths against faster-whisper called
directly, per class of input, English and Portuguese.

    .venv/bin/python -m bench.asr_quality [--quick] [--classes short,pauses,continuous]

Same model everywhere: the packaged Whisper base, CPU, int8, beam 5, language given.
  sequential  `WhisperModel.transcribe` in this process
  batched     `BatchedInferencePipeline.transcribe` with its defaults (no VAD on audio over
              30 s is not something it can do: n/a)
  gRPC        AsrService/Recognize
  REST        POST /v1/audio/transcriptions (it always sets vad_filter) for vad on, the
              transcoded POST /api/v1/asr:recognize for vad off
each with and without word timestamps and with and without vad_filter.

Input classes, built from real recorded speech (scripts/assets/fetch-test-audio.sh: jfk,
beckett, PocketSphinx's LibriVox sentences and card names; four speakers) for English and
from the synthesised pt-BR clips of tests/assets/speech/ for Portuguese (no real Portuguese
speech with transcripts was found in the registries):
  short       each clip alone
  pauses      call-like recordings: every clip twice, shuffled, 0.3-3 s of silence between
  continuous  one monologue: every clip back to back, no pause, over 30 s
Prints WER (lowercase, punctuation-blind) and RTF per path. Results go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import base64
import re
import secrets
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
import numpy as np
from faster_whisper import BatchedInferencePipeline, WhisperModel

from bench.asr import SAMPLE_RATE, asr_service, bare_model, to_float32, wav_bytes
from bench.machine import describe
from bench.services import LOGS, gateway
from paneas.asr.v1 import asr_pb2, asr_pb2_grpc
from paneas.services.asr.evaluation import (
    AMAZON_QUEEN,
    FETCHED_AUDIO,
    LANGUAGES,
    SAMPLES,
    amazon_queen_lines,
    read_pcm16,
    wer,
)

SEED = 20261124


@dataclass(frozen=True)
class Clip:
    name: str
    transcript: str
    samples: np.ndarray = field(repr=False)  # int16, 16 kHz mono
    speaker: str = ""


def _pocketsphinx_clips() -> list[Clip]:
    """The sentences of each transcription file ('<s> words </s> (id)')."""
    clips = []
    for listing, stem in (
        ("librivox-transcription", "librivox-"),
        ("cards-cards.transcription", "cards-"),
    ):
        text = (FETCHED_AUDIO / f"pocketsphinx-{listing}").read_text()
        for words, ident in re.findall(r"<s>\s*(.*?)\s*</s>\s*\((.+?)\)", text):
            samples, _ = read_pcm16(FETCHED_AUDIO / f"pocketsphinx-{stem}{ident}.wav")
            clips.append(Clip(f"{stem}{ident}", words, samples, f"pocketsphinx-{stem}"))
    return clips


def real_english() -> list[Clip]:
    if not AMAZON_QUEEN.joinpath("manifest.json").is_file():
        subprocess.run(["bash", "scripts/assets/fetch-test-audio.sh", "--bench"], check=True)
    named = [
        Clip(n, SAMPLES[n].transcript, read_pcm16(SAMPLES[n].path)[0], n)
        for n in ("jfk", "beckett")
    ]
    game = [
        Clip(line.path.stem, line.transcript, read_pcm16(line.path)[0], line.speaker)
        for line in amazon_queen_lines()
    ]
    return named + _pocketsphinx_clips() + game


def synthesised_portuguese() -> list[Clip]:
    return [
        Clip(name, SAMPLES[name].transcript, read_pcm16(SAMPLES[name].path)[0])
        for name in SAMPLES
        if LANGUAGES[name] == "pt"
    ]


@dataclass(frozen=True)
class Recording:
    label: str
    language: str
    transcript: str
    samples: np.ndarray = field(repr=False)

    @property
    def seconds(self) -> float:
        return self.samples.size / SAMPLE_RATE


def joined(clips: list[Clip], pauses: list[float]) -> tuple[np.ndarray, str]:
    pieces: list[np.ndarray] = []
    for index, clip in enumerate(clips):
        if index:
            pieces.append(np.zeros(int(pauses[index - 1] * SAMPLE_RATE), dtype=np.int16))
        pieces.append(clip.samples)
    return np.concatenate(pieces), " ".join(clip.transcript for clip in clips)


def input_classes(language: str, clips: list[Clip], classes: list[str]) -> list[Recording]:
    """Each clip is used once: the speech is shuffled and split by duration into thirds, one
    per class, so N minutes of speech cost N minutes per decode pass and no class scores the
    same sentence twice.
      short       each clip of the first third alone
      pauses      the second third as call-like recordings of about two minutes, 0.3-3 s of
                  silence between clips
      continuous  the last third back to back with no pause: one monologue (over 30 s)
    """
    rng = np.random.default_rng(SEED)
    shuffled = [clips[i] for i in rng.permutation(len(clips))]
    total = sum(c.samples.size for c in clips)
    thirds: list[list[Clip]] = [[], [], []]
    done = 0
    for clip in shuffled:
        thirds[min(2, int(3 * done / total))].append(clip)
        done += clip.samples.size
    if total < 180 * SAMPLE_RATE:
        # Too little speech to split (the synthesised Portuguese): every class uses all of it.
        thirds = [shuffled] * 3
    short, calls, monologue = thirds
    out = []
    if "short" in classes:
        out += [Recording("short", language, c.transcript, c.samples) for c in short]
    if "pauses" in classes:
        call: list[Clip] = []
        for clip in calls:
            call.append(clip)
            if sum(c.samples.size for c in call) >= 120 * SAMPLE_RATE or clip is calls[-1]:
                samples, text = joined(call, list(rng.uniform(0.3, 3.0, len(call))))
                out.append(Recording("pauses", language, text, samples))
                call = []
    if "continuous" in classes:
        # Short material (the synthesised Portuguese) is repeated to pass 30 s.
        seconds = sum(c.samples.size for c in monologue) / SAMPLE_RATE
        order = monologue * max(1, int(np.ceil(35 / seconds)))
        samples, text = joined(order, [0.0] * len(order))
        out.append(Recording("continuous", language, text, samples))
    return out


# --- paths -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mode:
    words: bool
    vad: bool

    def __str__(self) -> str:
        return f"words {'on' if self.words else 'off'}, vad {'on' if self.vad else 'off'}"


Path_ = Callable[[Recording, Mode], str | None]


def sequential(model: WhisperModel) -> Path_:
    def run(rec: Recording, mode: Mode) -> str:
        segments, _ = model.transcribe(
            to_float32(rec.samples),
            language=rec.language,
            beam_size=5,
            word_timestamps=mode.words,
            vad_filter=mode.vad,
        )
        return " ".join(s.text.strip() for s in segments)

    return run


def batched(pipeline: BatchedInferencePipeline) -> Path_:
    def run(rec: Recording, mode: Mode) -> str | None:
        if not mode.vad and rec.seconds >= 30:
            return None
        segments, _ = pipeline.transcribe(
            to_float32(rec.samples),
            language=rec.language,
            beam_size=5,
            word_timestamps=mode.words,
            vad_filter=mode.vad,
        )
        return " ".join(s.text.strip() for s in segments)

    return run


def grpc_path(stub: asr_pb2_grpc.AsrServiceStub, metadata) -> Path_:
    def run(rec: Recording, mode: Mode) -> str:
        config = asr_pb2.RecognitionConfig(
            language=rec.language, vad_filter=mode.vad, word_timestamps=mode.words
        )
        request = asr_pb2.RecognizeRequest(config=config, audio=wav_bytes(rec.samples))
        return stub.Recognize(request, metadata=metadata, timeout=900).text

    return run


def rest_path(client: httpx.Client, url: str) -> Path_:
    def run(rec: Recording, mode: Mode) -> str:
        wav = wav_bytes(rec.samples)
        if mode.vad:
            data = {"model": "whisper-1", "language": rec.language}
            if mode.words:
                data |= {"response_format": "verbose_json", "timestamp_granularities[]": "word"}
            response = client.post(
                f"{url}/v1/audio/transcriptions",
                files={"file": ("audio.wav", wav, "audio/wav")},
                data=data,
            )
        else:
            config = {"language": rec.language, "vadFilter": False, "wordTimestamps": mode.words}
            body = {"config": config, "audio": base64.b64encode(wav).decode()}
            response = client.post(f"{url}/api/v1/asr:recognize", json=body)
        response.raise_for_status()
        return response.json().get("text", "")

    return run


# --- measuring ---------------------------------------------------------------------------


@dataclass
class Score:
    errors: float = 0.0
    words: int = 0
    seconds: float = 0.0
    audio: float = 0.0
    missing: bool = False

    def add(self, rec: Recording, text: str | None, seconds: float) -> None:
        if text is None:
            self.missing = True
            return
        count = len(rec.transcript.split())
        self.errors += wer(rec.transcript, text) * count
        self.words += count
        self.seconds += seconds
        self.audio += rec.seconds

    def cell(self) -> str:
        if self.missing or not self.words:
            return "n/a"
        return f"{self.errors / self.words:.3f} ({self.seconds / self.audio:.3f})"

    @property
    def wer(self) -> float:
        return self.errors / self.words if self.words and not self.missing else float("nan")


def measure(
    recordings: list[Recording], paths: dict[str, Path_], modes: list[Mode]
) -> dict[tuple[str, str, str, str], Score]:
    """(language, class, mode, path) -> pooled WER over that class's recordings."""
    scores: dict[tuple[str, str, str, str], Score] = {}
    for rec in recordings:
        for mode in modes:
            for name, path in paths.items():
                started = time.perf_counter()
                text = path(rec, mode)
                key = (rec.language, rec.label, str(mode), name)
                scores.setdefault(key, Score()).add(rec, text, time.perf_counter() - started)
        print(f"  done: {rec.language} {rec.label} {rec.seconds:.1f} s", flush=True)
    return scores


def report(scores: dict, paths: list[str]) -> None:
    print("\nWER (RTF) pooled per class; parity: ours <= min(sequential, batched) + 0.005")
    print(f"| language | input | mode | {' | '.join(paths)} | parity |")
    print("|" + "---|" * (len(paths) + 4))
    for key in sorted({k[:3] for k in scores}):
        row = [scores[(*key, p)] for p in paths]
        bare = [s.wer for s in row[:2] if not np.isnan(s.wer)]
        ours = [s.wer for s in row[2:]]
        ok = bool(bare) and all(w <= min(bare) + 0.005 for w in ours)
        print(
            f"| {' | '.join(key)} | {' | '.join(s.cell() for s in row)} | {'yes' if ok else 'NO'} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", default="short,pauses,continuous")
    parser.add_argument("--languages", default="en,pt")
    parser.add_argument("--quick", action="store_true", help="vad on only, words on and off")
    args = parser.parse_args()
    classes = args.classes.split(",")
    modes = [Mode(words, vad) for vad in (True, False) for words in (False, True)]
    if args.quick:
        modes = [m for m in modes if m.vad]
    sources = {"en": real_english, "pt": synthesised_portuguese}
    recordings = []
    for lang in args.languages.split(","):
        clips = sources[lang]()
        speech = sum(c.samples.size for c in clips) / SAMPLE_RATE
        speakers = len({c.speaker or c.name for c in clips})
        print(f"{lang}: {len(clips)} clips, {speech / 60:.1f} min of speech, {speakers} speakers")
        recordings += input_classes(lang, clips, classes)
    total = sum(r.seconds for r in recordings)
    print(f"machine: {describe()}; {len(recordings)} recordings, {total / 60:.1f} min of audio")
    token = secrets.token_urlsafe(16)
    state = Path(tempfile.mkdtemp(prefix="paneas-bench-asr-quality-"))
    model = bare_model()
    with (
        asr_service(token) as service,
        gateway(token, {"asr": service.target}, state, {"LOG_LEVEL": "WARNING"}) as (url, _),
        grpc.insecure_channel(service.target) as channel,
        httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=900) as client,
    ):
        paths = {
            "sequential": sequential(model),
            "batched": batched(BatchedInferencePipeline(model)),
            "gRPC": grpc_path(asr_pb2_grpc.AsrServiceStub(channel), service.metadata),
            "REST": rest_path(client, url),
        }
        scores = measure(recordings, paths, modes)
    report(scores, list(paths))
    print(f"\nservice logs in {LOGS}")


if __name__ == "__main__":
    main()
