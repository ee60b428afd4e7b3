"""Speaker diarization: DER and real-time factor of our engine, in process and through the ASR
service, next to senko called directly, on recordings of 2-4 real voices.

    .venv/bin/python -m bench.diarization [--quick] [--runs N] [--max-load 0.5]

Recordings (built here, the same every run): the voice actors of Amazon Queen
(scripts/assets/fetch-test-audio.sh --bench; one character per line, real recorded speech) in
alternating turns: each character's lines, shuffled and trimmed of their quiet ends, split
into as many turns as the least talkative character has lines; turns in rounds, each round
every character once in a random order, never the same character twice in a row; 0.2-1.5 s
of silence between lines. Clean, no overlap. The ground truth is each line's span.

Game actors voice several characters, so the characters used are the ones whose voices the
CAM++ embeddings tell apart (`--voices` prints the check): JOE, WITCH, CHIEF, FAYE and JIM,
whose pairwise centroid cosines are 0.59-0.80 while each character's halves agree at 0.95 or
more. Left out as probably one actor: SPARKY/LOU (0.96), BUD/FRANK (0.92), JOE/SPARKY (0.91),
JOE/MAN (0.89), WITCH/TAM (0.89), CHIEF/IAN (0.88), FAYE/LOLA (0.88); BOB and BUD are at
0.86-0.88 to JOE.

Rows, on the same recordings in the same run:
  senko merged   `senko.Diarizer.diarize_samples` (warm-up off), its `merged_segments`
  senko raw      the same call's `raw_segments` (no joining of 4 s gaps, no dropping of
                 turns <= 0.78 s)
  ours           `SpeakerEngine.diarize` (services/asr/diarization.py) in this process: senko's
                 pipeline up to the raw turns, then gaps of up to 0.5 s joined (not 4 s)
  gRPC           `AsrService/Recognize` with diarization through a real ASR service: the
                 segments' `speaker` (Whisper's segment times, so its boundaries are scored)
The first three run on one core: one torch thread, BLAS limited to one thread. RTF is
diarization alone for them; for gRPC it is the time diarization adds: Recognize with it minus
without (median of --runs each, alternated), with the service's own settings.

DER is frame-level (10 ms): missed speech + false alarm + confusion over the reference's
speech, speakers mapped one to one to maximise agreement (`linear_sum_assignment`), with no
collar and with a 0.25 s collar (frames within 0.25 s of a reference boundary not scored).
The scorer is `der` below rather than pyannote.metrics: that package brings pyannote.core,
pandas and more for a computation of forty lines that we can read and test here, and no
overlap handling is needed beyond counting active speakers per frame.

The engine's join of 0.5 s comes from this benchmark's recordings, scored by `der` below on
the engine's turns before the merge (computed once, cached) with the merge's longest gap
varied (2026-12-03, the full benchmark not re-run): with a 0.25 s collar, 4 s (senko's)
12.4%, 2 s 12.4%, 1 s 6.0%, 0.5 s 3.7%, 0.25 s 3.8%, no join 4.1%; without a collar 21.2%,
21.2%, 13.1%, 8.4%, 7.0%, 7.2%. Labels of the reference lines and of pieces of them padded into
the pauses, by `label_segments`, were the same for every gap. docs/benchmarks.md "Diarization".

Then the time to embed one utterance of 2-3 s (`SpeakerEngine.embed`, p50/p95): what a live
final waits for before its speaker label. Results go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import grpc
import numpy as np
from scipy.optimize import linear_sum_assignment

from bench.asr import SAMPLE_RATE, asr_service, wav_bytes
from bench.load import ForeignLoad, PidList, wait_for_quiet
from bench.machine import describe
from bench.services import LOGS
from bench.stats import percentile
from paneas.asr.v1 import asr_pb2, asr_pb2_grpc
from paneas.services.asr.evaluation import AMAZON_QUEEN, amazon_queen_lines, read_pcm16

SEED = 20261203
VOICES = ("JOE", "WITCH", "CHIEF", "FAYE", "JIM")
FRAME_SECONDS = 0.01
COLLAR_SECONDS = 0.25
LEAD_SECONDS = 0.5
PAUSE_SECONDS = (0.2, 1.5)


# --- recordings --------------------------------------------------------------------------


class Turn(NamedTuple):
    start: float
    end: float
    speaker: str


@dataclass(frozen=True)
class Recording:
    name: str
    samples: np.ndarray = field(repr=False)  # float32, 16 kHz mono
    truth: list[Turn] = field(repr=False)

    @property
    def seconds(self) -> float:
        return self.samples.size / SAMPLE_RATE

    @property
    def speakers(self) -> int:
        return len({turn.speaker for turn in self.truth})

    @property
    def speech(self) -> float:
        return sum(turn.end - turn.start for turn in self.truth)


@dataclass(frozen=True)
class Recipe:
    speakers: tuple[str, ...]
    # Each character's speech capped at this many seconds (None: all its lines).
    cap_seconds: float | None


RECIPES = (
    Recipe(("WITCH", "JIM"), 30.0),
    Recipe(("WITCH", "CHIEF", "FAYE"), None),
    Recipe(("JOE", "WITCH", "CHIEF", "JIM"), 90.0),
    Recipe(("JOE", "WITCH", "CHIEF", "FAYE"), None),
)


def trimmed(samples: np.ndarray) -> np.ndarray:
    """float32 samples without their leading and trailing quiet (20 ms frames under 6% of the
    clip's 95th-percentile RMS; 0.05 s kept), so the ground truth is where the voice is."""
    frame = SAMPLE_RATE // 50
    frames = samples[: samples.size // frame * frame].reshape(-1, frame)
    rms = np.sqrt((frames**2).mean(axis=1))
    loud = np.flatnonzero(rms >= 0.06 * np.percentile(rms, 95))
    if loud.size == 0:
        return samples
    keep = SAMPLE_RATE // 20
    return samples[
        max(0, loud[0] * frame - keep) : min(samples.size, (loud[-1] + 1) * frame + keep)
    ]


def character_lines() -> dict[str, list[np.ndarray]]:
    if not AMAZON_QUEEN.joinpath("manifest.json").is_file():
        raise SystemExit("run scripts/assets/fetch-test-audio.sh --bench first")
    lines: dict[str, list[np.ndarray]] = {name: [] for name in VOICES}
    for line in amazon_queen_lines():
        if line.speaker in lines:
            samples, rate = read_pcm16(line.path)
            if rate != SAMPLE_RATE or samples.ndim != 1:
                raise ValueError(f"{line.path}: expected 16 kHz mono")
            lines[line.speaker].append(trimmed(samples.astype(np.float32) / 32768.0))
    return lines


def build(recipe: Recipe, lines: dict[str, list[np.ndarray]], seed: int) -> Recording:
    rng = np.random.default_rng(seed)
    chosen: dict[str, list[np.ndarray]] = {}
    for speaker in recipe.speakers:
        pool = [lines[speaker][i] for i in rng.permutation(len(lines[speaker]))]
        taken, seconds = [], 0.0
        for clip in pool:
            if recipe.cap_seconds is not None and seconds >= recipe.cap_seconds:
                break
            taken.append(clip)
            seconds += clip.size / SAMPLE_RATE
        chosen[speaker] = taken
    rounds = min(len(clips) for clips in chosen.values())
    turns = {s: np.array_split(np.arange(len(c)), rounds) for s, c in chosen.items()}
    order: list[tuple[str, int]] = []
    for number in range(rounds):
        speakers = [recipe.speakers[i] for i in rng.permutation(len(recipe.speakers))]
        if order and speakers[0] == order[-1][0]:
            speakers.append(speakers.pop(0))
        order += [(speaker, number) for speaker in speakers]
    pieces = [np.zeros(int(LEAD_SECONDS * SAMPLE_RATE), np.float32)]
    position = pieces[0].size
    truth = []
    for speaker, number in order:
        for index in turns[speaker][number]:
            clip = chosen[speaker][index]
            truth.append(
                Turn(position / SAMPLE_RATE, (position + clip.size) / SAMPLE_RATE, speaker)
            )
            pause = np.zeros(int(rng.uniform(*PAUSE_SECONDS) * SAMPLE_RATE), np.float32)
            pieces += [clip, pause]
            position += clip.size + pause.size
    samples = np.concatenate(pieces)
    name = f"{len(recipe.speakers)} voices, {samples.size / SAMPLE_RATE / 60:.1f} min"
    return Recording(name, samples, truth)


def recordings(quick: bool) -> list[Recording]:
    lines = character_lines()
    recipes = RECIPES[:2] if quick else RECIPES
    return [build(recipe, lines, SEED + number) for number, recipe in enumerate(recipes)]


# --- scoring -----------------------------------------------------------------------------


@dataclass
class Errors:
    """Frame counts (10 ms) of one or more scored recordings."""

    missed: int = 0
    false_alarm: int = 0
    confusion: int = 0
    reference: int = 0

    def __iadd__(self, other: Errors) -> Errors:
        self.missed += other.missed
        self.false_alarm += other.false_alarm
        self.confusion += other.confusion
        self.reference += other.reference
        return self

    @property
    def rate(self) -> float:
        wrong = self.missed + self.false_alarm + self.confusion
        return wrong / self.reference if self.reference else float("nan")

    def cell(self) -> str:
        parts = (self.missed, self.false_alarm, self.confusion)
        shares = "/".join(f"{100 * part / self.reference:.1f}" for part in parts)
        return f"{100 * self.rate:5.1f}% ({shares})"


def _activity(turns: Sequence[Turn], frames: int) -> tuple[np.ndarray, list[str]]:
    labels = sorted({turn.speaker for turn in turns})
    active = np.zeros((frames, len(labels)), dtype=bool)
    for start, end, speaker in turns:
        first, last = round(start / FRAME_SECONDS), round(end / FRAME_SECONDS)
        active[first:last, labels.index(speaker)] = True
    return active, labels


def der(reference: Sequence[Turn], hypothesis: Sequence[Turn], collar: float = 0.0) -> Errors:
    """Diarization error of `hypothesis` against `reference`, frame by frame: per scored frame
    with R reference and H hypothesis speakers active and C of the mapped pairs both active,
    missed max(R - H, 0), false alarm max(H - R, 0), confusion min(R, H) - C. The one-to-one
    speaker mapping maximises the frames where both are active. Frames within `collar`
    seconds of a reference turn's start or end are not scored."""
    end = max([turn.end for turn in [*reference, *hypothesis]], default=0.0)
    frames = round(end / FRAME_SECONDS) + 1
    ref, _ = _activity(reference, frames)
    hyp, _ = _activity(hypothesis, frames)
    scored = np.ones(frames, dtype=bool)
    if collar > 0:
        for turn in reference:
            for edge in (turn.start, turn.end):
                low = max(0, round((edge - collar) / FRAME_SECONDS))
                scored[low : round((edge + collar) / FRAME_SECONDS)] = False
    ref, hyp = ref[scored], hyp[scored]
    in_ref, in_hyp = ref.sum(axis=1), hyp.sum(axis=1)
    both = ref.T.astype(np.int64) @ hyp.astype(np.int64)  # (reference, hypothesis) frames
    rows, columns = linear_sum_assignment(both, maximize=True)
    return Errors(
        missed=int(np.maximum(in_ref - in_hyp, 0).sum()),
        false_alarm=int(np.maximum(in_hyp - in_ref, 0).sum()),
        confusion=int(np.minimum(in_ref, in_hyp).sum() - both[rows, columns].sum()),
        reference=int(in_ref.sum()),
    )


# --- paths -------------------------------------------------------------------------------


class Outcome(NamedTuple):
    turns: list[Turn]
    seconds: float  # what RTF is computed from
    cpu_seconds: float | None = None  # this process's CPU time meanwhile (in-process paths)


Diarize = Callable[[Recording], dict[str, Outcome]]


def one_core():
    """Torch and BLAS (numpy, scipy) limited to one thread each, for the in-process paths."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    return threadpool_limits(limits=1)


def timed(call: Callable[[], object]) -> tuple[object, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def senko_path() -> Diarize:
    import senko
    import torch

    diarizer = senko.Diarizer(warmup=False, quiet=True)
    # It resets torch's thread count to this after its VAD, every call.
    diarizer.logical_cores = 1
    torch.set_num_threads(1)

    def run(rec: Recording) -> dict[str, Outcome]:
        with one_core():
            result, wall, cpu = timed(lambda: diarizer.diarize_samples(rec.samples))
        result = result or {"merged_segments": [], "raw_segments": []}

        def turns(key: str) -> list[Turn]:
            return [Turn(s["start"], s["end"], s["speaker"]) for s in result[key]]

        return {
            "senko merged": Outcome(turns("merged_segments"), wall, cpu),
            "senko raw": Outcome(turns("raw_segments"), wall, cpu),
        }

    return run


def speaker_engine():
    from paneas.services.asr.diarization import SpeakerEngine
    from paneas.services.asr.settings import AsrSettings

    engine = SpeakerEngine(AsrSettings(diarization_cpu_threads=1))
    engine.load()
    return engine


def engine_path(engine) -> Diarize:
    def run(rec: Recording) -> dict[str, Outcome]:
        with one_core():
            result, wall, cpu = timed(lambda: engine.diarize(rec.samples))
        turns = [Turn(t.start, t.end, t.speaker) for t in result.turns]
        return {"ours": Outcome(turns, wall, cpu)}

    return run


def chunked_path(engine, chunk_seconds: float) -> Diarize:
    """What a job does with `diarize` (gateway/jobs): the recording cut as the worker cuts it
    (`EncodedFile.windows`: each chunk ends at the quietest 100 ms of its last 20 s), each
    chunk diarized on its own, the chunks' speakers linked by voice (`speakers.relabel`)."""
    from paneas.gateway.jobs.speakers import relabel
    from paneas.services.asr.audio import EncodedFile

    def run(rec: Recording) -> dict[str, Outcome]:
        wav = wav_bytes(np.round(rec.samples * 32767.0).astype(np.int16))
        audio = EncodedFile(wav, 24 * 3600.0, "max seconds")
        chunks = list(audio.windows(chunk_seconds))
        audio.close()

        def diarize_chunks() -> list:
            parts = []
            for offset, samples in chunks:
                found = engine.diarize(samples)
                segments = [
                    asr_pb2.Segment(
                        start_seconds=offset + t.start,
                        end_seconds=offset + t.end,
                        speaker=t.speaker,
                    )
                    for t in found.turns
                ]
                summary = asr_pb2.Diarization(note=found.note)
                for voice in found.speakers:
                    summary.speakers.add(
                        label=voice.label,
                        speech_seconds=voice.speech_seconds,
                        embedding=voice.embedding.tolist(),
                    )
                parts.append((0, segments, summary))
            relabel(parts)
            return [seg for _, segments, _ in parts for seg in segments]

        with one_core():
            segments, wall, cpu = timed(diarize_chunks)
        turns = [Turn(s.start_seconds, s.end_seconds, s.speaker) for s in segments]
        print(f"  {rec.name}: {len(chunks)} chunks of up to {chunk_seconds:g} s", flush=True)
        return {f"ours, {chunk_seconds:g} s chunks linked": Outcome(turns, wall, cpu)}

    return run


def grpc_path(stub: asr_pb2_grpc.AsrServiceStub, metadata, runs: int) -> Diarize:
    def recognize(wav: bytes, diarize: bool) -> tuple[asr_pb2.RecognizeResponse, float]:
        config = asr_pb2.RecognitionConfig(language="en", vad_filter=True)
        config.diarization.enable = diarize
        request = asr_pb2.RecognizeRequest(config=config, audio=wav)
        started = time.perf_counter()
        response = stub.Recognize(request, metadata=metadata, timeout=1800)
        return response, time.perf_counter() - started

    def run(rec: Recording) -> dict[str, Outcome]:
        wav = wav_bytes(np.round(rec.samples * 32767.0).astype(np.int16))
        plain, with_speakers = [], []
        response = None
        for number in range(runs):
            for diarize in (True, False) if number % 2 else (False, True):
                answer, seconds = recognize(wav, diarize)
                if diarize:
                    with_speakers.append(seconds)
                    response = answer
                else:
                    plain.append(seconds)
        added = statistics.median(with_speakers) - statistics.median(plain)
        turns = [Turn(s.start_seconds, s.end_seconds, s.speaker) for s in response.segments]
        return {"gRPC": Outcome(turns, added)}

    return run


# --- measuring ---------------------------------------------------------------------------


@dataclass
class Row:
    der: Errors = field(default_factory=Errors)
    der_collar: Errors = field(default_factory=Errors)
    found: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    audio: float = 0.0


def measure(recs: list[Recording], paths: dict[str, Diarize], runs: int, pids: PidList) -> dict:
    """(recording name, path) -> Row; DER of the first run, RTF the median over `runs`. Says
    how much CPU other processes (colleagues' work on a shared machine) took meanwhile."""
    rows: dict[tuple[str, str], Row] = {}
    for rec in recs:
        for group, path in paths.items():
            others = ForeignLoad(pids)
            # The service row repeats inside (with and without diarization); the chunked rows
            # are there for their DER.
            repeat = runs if group in ("senko", "ours") else 1
            outcomes = [path(rec) for _ in range(repeat)]
            print(f"  {rec.name}, {group}: other processes' CPU {others.share():.0%}", flush=True)
            for name in outcomes[0]:
                row = rows.setdefault((rec.name, name), Row())
                first = outcomes[0][name]
                row.der += der(rec.truth, first.turns)
                row.der_collar += der(rec.truth, first.turns, COLLAR_SECONDS)
                row.found.append(len({turn.speaker for turn in first.turns}))
                row.seconds.append(statistics.median(o[name].seconds for o in outcomes))
                cpu = [o[name].cpu_seconds for o in outcomes if o[name].cpu_seconds is not None]
                if cpu:
                    row.cpu_seconds.append(statistics.median(cpu))
                row.audio += rec.seconds
                labels = {len({t.speaker for t in o[name].turns}) for o in outcomes}
                if len({round(der(rec.truth, o[name].turns).rate, 4) for o in outcomes}) > 1:
                    print(f"  note: {name} differs between runs (speakers {sorted(labels)})")
        print(f"  done: {rec.name}", flush=True)
    return rows


def report(recs: list[Recording], rows: dict) -> None:
    names = list(dict.fromkeys(name for _, name in rows))
    truth = {rec.name: rec.speakers for rec in recs}
    print(
        "\nDER (missed/false alarm/confusion, % of reference speech); RTF: diarization time over "
        "audio (gRPC: the time it adds); CPU RTF: this process's CPU time over audio (what RTF "
        "is on an idle core); ratio: over senko merged's CPU time (gRPC: RTF over its RTF)"
    )
    print(
        "| recording | path | DER | DER, 0.25 s collar | speakers (true) | RTF | CPU RTF | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|")
    pooled: dict[str, Row] = {}
    for rec_name in [rec.name for rec in recs] + ["all"]:
        for name in names:
            if rec_name == "all":
                row = pooled.get(name)
                speakers = "/".join(str(f) for f in row.found) if row else ""
                true = "/".join(str(truth[r.name]) for r in recs)
            else:
                row = rows.get((rec_name, name))
                if row is None:
                    continue
                total = pooled.setdefault(name, Row())
                total.der += row.der
                total.der_collar += row.der_collar
                total.found += row.found
                total.seconds += row.seconds
                total.cpu_seconds += row.cpu_seconds
                total.audio += row.audio
                speakers, true = str(row.found[0]), str(truth[rec_name])
            if row is None:
                continue
            rtf = sum(row.seconds) / row.audio
            bare = row_of(rows, pooled, rec_name, "senko merged")
            cpu = f"{sum(row.cpu_seconds) / row.audio:.4f}" if row.cpu_seconds else ""
            ratio = ""
            if bare and bare.audio:
                # CPU time where both have it: it does not move with colleagues' load.
                if row.cpu_seconds and bare.cpu_seconds:
                    ratio = f"{sum(row.cpu_seconds) / sum(bare.cpu_seconds):.2f}"
                else:
                    ratio = f"{rtf / (sum(bare.seconds) / bare.audio):.2f}"
            print(
                f"| {rec_name} | {name} | {row.der.cell()} | {row.der_collar.cell()} | "
                f"{speakers} ({true}) | {rtf:.4f} | {cpu} | {ratio} |"
            )


def row_of(rows: dict, pooled: dict, rec_name: str, name: str) -> Row | None:
    return pooled.get(name) if rec_name == "all" else rows.get((rec_name, name))


# --- embedding one utterance, and the voices check ---------------------------------------


def utterances(lines: dict[str, list[np.ndarray]], count: int) -> list[np.ndarray]:
    """Up to `count` lines of 2-3 s, taken from every character in turn."""
    fitting = {
        name: [c for c in clips if 2.0 <= c.size / SAMPLE_RATE <= 3.0]
        for name, clips in lines.items()
    }
    out: list[np.ndarray] = []
    while len(out) < count and any(fitting.values()):
        for clips in fitting.values():
            if clips and len(out) < count:
                out.append(clips.pop(0))
    return out


def embedding_latency(engine, clips: list[np.ndarray]) -> None:
    with one_core():
        engine.embed(clips[0])  # warm
        seconds = [timed(lambda c=clip: engine.embed(c))[1] for clip in clips]
    audio = [clip.size / SAMPLE_RATE for clip in clips]
    print(
        f"\nembedding one utterance ({len(clips)} lines of {min(audio):.1f}-{max(audio):.1f} s, "
        f"one core): p50 {percentile(seconds, 0.5) * 1000:.0f} ms, "
        f"p95 {percentile(seconds, 0.95) * 1000:.0f} ms, max {max(seconds) * 1000:.0f} ms"
    )


def voices_check(engine, lines: dict[str, list[np.ndarray]]) -> None:
    """Cosine between the characters' mean embeddings, and between the two halves of each
    character's lines: different voices are well under the halves' agreement."""
    embeddings = {}
    with one_core():
        for name, clips in lines.items():
            vectors = [v for v in (engine.embed(c) for c in clips) if v is not None]
            embeddings[name] = np.array(vectors)

    def mean(vectors: np.ndarray) -> np.ndarray:
        centre = vectors.mean(axis=0)
        return centre / np.linalg.norm(centre)

    names = list(embeddings)
    print("\ncosine between characters' mean embeddings (ours); diagonal: first half vs second")
    print("|  | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for a in names:
        cells = []
        for b in names:
            if a == b:
                half = len(embeddings[a]) // 2
                value = mean(embeddings[a][:half]) @ mean(embeddings[a][half:])
            else:
                value = mean(embeddings[a]) @ mean(embeddings[b])
            cells.append(f"{value:.2f}")
        print(f"| {a} | " + " | ".join(cells) + " |")


# --- main --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the two shortest recordings, 1 run")
    parser.add_argument("--runs", type=int, default=2, help="timed runs of senko's and ours")
    parser.add_argument("--service-runs", type=int, default=2, help="Recognize calls each way")
    parser.add_argument("--paths", default="senko,ours,grpc")
    parser.add_argument("--voices", action="store_true", help="print the voices check")
    parser.add_argument(
        "--chunks",
        default="60,120,300",
        help="chunk lengths (s) of the jobs' linking rows; '' none",
    )
    parser.add_argument("--max-load", type=float, default=0.5)
    parser.add_argument("--patience", type=float, default=900, help="seconds to wait for it")
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs
    chosen = args.paths.split(",")
    os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(".cache/numba").resolve()))

    load = wait_for_quiet(args.max_load, args.patience)
    print(f"machine: {describe()}; load average at start {load:.2f}", flush=True)
    recs = recordings(args.quick)
    for rec in recs:
        print(
            f"{rec.name}: {rec.seconds:.1f} s, {rec.speech:.1f} s of speech in "
            f"{len(rec.truth)} lines, {rec.speakers} speakers"
        )
    paths: dict[str, Diarize] = {}
    engine = None
    if "senko" in chosen:
        paths["senko"] = senko_path()
    if {"ours", "grpc"} & set(chosen) or args.voices or args.chunks:
        engine = speaker_engine()
    if "ours" in chosen:
        paths["ours"] = engine_path(engine)
    for seconds in [float(c) for c in args.chunks.split(",") if c]:
        paths[f"chunks {seconds:g}"] = chunked_path(engine, seconds)
    token = secrets.token_urlsafe(16)
    if "grpc" in chosen:
        with asr_service(token) as service, grpc.insecure_channel(service.target) as channel:
            stub = asr_pb2_grpc.AsrServiceStub(channel)
            paths["gRPC"] = grpc_path(
                stub, service.metadata, 1 if args.quick else args.service_runs
            )
            # Warm: Whisper and the speaker models load on first use.
            config = asr_pb2.RecognitionConfig(language="en", vad_filter=True)
            config.diarization.enable = True
            head = np.round(recs[0].samples[: 30 * SAMPLE_RATE] * 32767.0).astype(np.int16)
            warm = asr_pb2.RecognizeRequest(config=config, audio=wav_bytes(head))
            stub.Recognize(warm, metadata=service.metadata, timeout=600)
            rows = measure(recs, paths, runs, service.pids)
    else:
        rows = measure(recs, paths, runs, lambda: [])
    report(recs, rows)
    if engine is not None:
        lines = character_lines()
        embedding_latency(engine, utterances(lines, 10 if args.quick else 40))
        if args.voices:
            voices_check(engine, lines)
    print(f"\nload average at end {os.getloadavg()[0]:.2f}; service logs in {LOGS}")


if __name__ == "__main__":
    main()
