"""ASR batch benchmark: real-time factor through gRPC and REST vs faster-whisper called
directly, and file throughput under concurrency.

    .venv/bin/python -m bench.asr [--quick] [--runs N] [--workers 2,1]

Starts a real ASR service and gateway (loopback only) and measures, on the same audio and
with the same model (the packaged Whisper base, CPU, int8):
  bare   BatchedInferencePipeline in this process with its defaults (VAD on, beam 5,
         batches of 8), as a user of faster-whisper would call it; the service decodes
         again where the pipeline drops text, so the WER column shows what its time buys
  grpc   AsrService/Recognize through the generated stub (config vad_filter=True)
  rest   POST /v1/audio/transcriptions through the gateway (OpenAI multipart; it sets
         vad_filter=True itself), or the transcoded POST /api/v1/asr:recognize if absent
  grpc, ASR_WORKERS=N   the same against a second service with N decode slots (the first
         of --workers that is not the service's default), so what the number of slots
         costs a lone file shows in the same run
The paths run one after another, never at once: each decode uses every core.
Then 8 files through gRPC, sequentially and all at once, per ASR_WORKERS setting (each
service's slots warmed first: a CTranslate2 replica's first decode pays its allocations).
Live streaming is bench/asr_live.py. Results go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import secrets
import tempfile
import time
import wave
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import grpc
import httpx
import numpy as np
from faster_whisper import BatchedInferencePipeline, WhisperModel

from bench.load import PidList, phase, wait_for_quiet
from bench.machine import describe
from bench.services import LOGS, gateway, grpc_service
from bench.stats import percentile
from paneas.asr.v1 import asr_pb2, asr_pb2_grpc
from paneas.services.asr.assets import ensure_packaged_model
from paneas.services.asr.evaluation import LANGUAGES, SAMPLES, read_pcm16, wer
from paneas.services.asr.settings import AsrSettings
from paneas.services.processes import ServiceProcess, free_port

SAMPLE_RATE = 16_000
DEFAULT_WORKERS: int = AsrSettings.model_fields["workers"].default
GAP_SECONDS = 0.5
# Interleaved so that neighbouring clips differ in language and voice.
CLIP_ORDER = ("jfk", "pt_padaria", "en_weather", "pt_chuva", "beckett", "en_report", "pt_visita")


# --- audio -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clip:
    name: str
    language: str
    transcript: str
    samples: np.ndarray = field(repr=False)  # int16, 16 kHz mono

    @property
    def seconds(self) -> float:
        return self.samples.size / SAMPLE_RATE


def load_clips(names: tuple[str, ...] = CLIP_ORDER) -> list[Clip]:
    clips = []
    for name in names:
        samples, rate = read_pcm16(SAMPLES[name].path)
        if rate != SAMPLE_RATE or samples.ndim != 1:
            raise ValueError(f"{name}: expected 16 kHz mono, got {rate} Hz {samples.shape}")
        clips.append(Clip(name, LANGUAGES[name], SAMPLES[name].transcript, samples))
    return clips


def concatenate(clips: list[Clip], gap_seconds: float = GAP_SECONDS) -> np.ndarray:
    gap = np.zeros(int(gap_seconds * SAMPLE_RATE), dtype=np.int16)
    pieces: list[np.ndarray] = []
    for index, clip in enumerate(clips):
        if index:
            pieces.append(gap)
        pieces.append(clip.samples)
    return np.concatenate(pieces)


def wav_bytes(samples: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


def to_float32(samples: np.ndarray) -> np.ndarray:
    """PCM16 as the service's decoder hands it to Whisper (FFmpeg's s16 -> flt)."""
    return samples.astype(np.float32) / 32768.0


# --- the bare engine ---------------------------------------------------------------------


def bare_model() -> WhisperModel:
    """The model as the service loads it with its defaults (engine.py `load`)."""
    return WhisperModel(
        str(ensure_packaged_model()),
        device="cpu",
        device_index=0,
        compute_type="int8",
        cpu_threads=os.cpu_count() or 1,
        num_workers=1,
    )


def bare_recognize(pipeline: BatchedInferencePipeline, audio: np.ndarray) -> str:
    """faster-whisper's batched pipeline as its documentation calls it (its defaults: VAD on,
    batches of 8, beam 5, no timestamp tokens), the engine a user would otherwise run. The
    service decodes more than this where the pipeline drops text (services/asr/batch.py), so
    the WER column says what each path's time buys. Decoding is lazy: the text exists only
    once every segment has been consumed."""
    segments, _ = pipeline.transcribe(audio, batch_size=8)
    return " ".join(segment.text.strip() for segment in segments)


# --- services ----------------------------------------------------------------------------


Metadata = tuple[tuple[str, str], ...]


@dataclass
class AsrService:
    target: str
    metadata: Metadata
    process: ServiceProcess
    metrics_url: str
    workers: int = DEFAULT_WORKERS

    @property
    def name(self) -> str:
        return f"ASR_WORKERS={self.workers}"

    def pids(self) -> list[int]:
        return [self.process.process.pid]

    def stub(self, channel: grpc.Channel) -> asr_pb2_grpc.AsrServiceStub:
        return asr_pb2_grpc.AsrServiceStub(channel)


@contextmanager
def asr_service(
    token: str, workers: int = DEFAULT_WORKERS, max_streams: int | None = None
) -> Iterator[AsrService]:
    """The service with its defaults, but for ASR_WORKERS and, when given, the number of
    live streams it admits (its default follows the core count)."""
    metrics_port = free_port()
    env = {
        "API_TOKENS": token,
        "ASR_METRICS_PORT": str(metrics_port),
        "ASR_WORKERS": str(workers),
        # Admit every stream the bench opens, past the service's own capacity default, to
        # measure what overcommitting does.
        "ASR_MAX_STREAMS": "8",
        "LOG_LEVEL": "WARNING",
    }
    if max_streams is not None:
        env["ASR_MAX_STREAMS"] = str(max_streams)
    with grpc_service("asr", env, f"asr-w{workers}") as (target, process):
        metadata = (("authorization", f"Bearer {token}"),)
        yield AsrService(
            target, metadata, process, f"http://127.0.0.1:{metrics_port}/metrics", workers
        )


# --- one file, three paths ---------------------------------------------------------------


Recognizer = Callable[[], str]


def grpc_recognizer(
    stub: asr_pb2_grpc.AsrServiceStub, metadata: Metadata, wav: bytes
) -> Recognizer:
    request = asr_pb2.RecognizeRequest(config=asr_pb2.RecognitionConfig(vad_filter=True), audio=wav)
    return lambda: stub.Recognize(request, metadata=metadata, timeout=600).text


def rest_recognizer(client: httpx.Client, url: str, wav: bytes) -> tuple[str, Recognizer]:
    """The OpenAI-compatible route when the gateway has it, else the transcoded JSON one."""

    def openai() -> str:
        response = client.post(
            f"{url}/v1/audio/transcriptions",
            files={"file": ("audio.wav", wav, "audio/wav")},
            data={"model": "whisper-1"},
        )
        response.raise_for_status()
        return response.json()["text"]

    body = {"config": {"vadFilter": True}, "audio": base64.b64encode(wav).decode()}

    def transcoded() -> str:
        response = client.post(f"{url}/api/v1/asr:recognize", json=body)
        response.raise_for_status()
        return response.json().get("text", "")

    probe = client.post(f"{url}/v1/audio/transcriptions", data={"model": "whisper-1"})
    if probe.status_code == 404:
        return "POST /api/v1/asr:recognize (JSON)", transcoded
    return "POST /v1/audio/transcriptions", openai


def timed(call: Recognizer) -> tuple[float, str]:
    started = time.perf_counter()
    text = call()
    return time.perf_counter() - started, text


@dataclass
class PathResult:
    latencies: list[float] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)


def measure_latency(paths: dict[str, Recognizer], runs: int) -> dict[str, PathResult]:
    """Alternates the paths, one run each in turn (the order rotating every round), so
    drifts in machine speed hit them all alike."""
    for call in paths.values():
        call()  # warm up: first-call allocations, connections
    names = list(paths)
    results = {name: PathResult() for name in names}
    for round_ in range(runs):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            seconds, text = timed(paths[name])
            results[name].latencies.append(seconds)
            results[name].texts.append(text)
    return results


# --- throughput --------------------------------------------------------------------------


@dataclass
class Throughput:
    label: str
    audio_seconds: float
    wall_seconds: float
    refused: int = 0

    @property
    def speed(self) -> float:
        return self.audio_seconds / self.wall_seconds


def throughput(
    label: str, calls: list[Callable[[], object]], audio_seconds: float, concurrent: bool
) -> Throughput:
    refused = 0

    def guarded(call: Callable[[], object]) -> None:
        nonlocal refused
        try:
            call()
        except grpc.RpcError as error:
            if error.code() is not grpc.StatusCode.RESOURCE_EXHAUSTED:
                raise
            refused += 1

    started = time.perf_counter()
    if concurrent:
        with ThreadPoolExecutor(len(calls)) as pool:
            list(pool.map(guarded, calls))
    else:
        for call in calls:
            guarded(call)
    return Throughput(label, audio_seconds, time.perf_counter() - started, refused)


def service_throughput(
    service: AsrService, wavs: list[bytes], audio_seconds: float, workers: int
) -> list[Throughput]:
    with grpc.insecure_channel(service.target) as channel:
        stub = service.stub(channel)
        calls = [grpc_recognizer(stub, service.metadata, wav) for wav in wavs]
        # Warm every slot: each CTranslate2 replica pays its own first-decode allocations
        # (one warm call left a fresh second slot to pay them in the sequential row).
        throughput("warm-up", calls, audio_seconds, True)
        return [
            throughput(f"gRPC, sequential, ASR_WORKERS={workers}", calls, audio_seconds, False),
            throughput(f"gRPC, 8 at once, ASR_WORKERS={workers}", calls, audio_seconds, True),
        ]


# --- report ------------------------------------------------------------------------------


def print_latency(
    title: str, seconds: float, reference: str, results: dict[str, PathResult]
) -> None:
    """WER is against the clips' transcripts, worst of the runs (each path's runs usually
    give one text)."""
    bare = percentile(results["bare"].latencies, 0.5)
    print(f"\n{title} ({seconds:.1f} s of audio, {len(results['bare'].latencies)} runs)")
    print(f"{'path':<42} {'p50 s':>7} {'p95 s':>7} {'RTF p50':>8} {'ratio':>6} {'WER':>6}")
    for name, result in results.items():
        p50 = percentile(result.latencies, 0.5)
        worst = max(wer(reference, text) for text in result.texts)
        print(
            f"{name:<42} {p50:7.3f} {percentile(result.latencies, 0.95):7.3f} "
            f"{p50 / seconds:8.4f} {p50 / bare:6.3f} {worst:6.3f}"
        )


def print_throughput(rows: list[Throughput]) -> None:
    print(f"\n8 files ({rows[0].audio_seconds:.1f} s of audio in all)")
    print(f"{'path':<36} {'wall s':>7} {'audio s/s':>10} {'refused':>8}")
    for row in rows:
        print(f"{row.label:<36} {row.wall_seconds:7.2f} {row.speed:10.2f} {row.refused:8d}")


# --- main --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    files: dict[str, tuple[np.ndarray, str]]  # latency: the concatenation, jfk; transcripts
    batch: list[np.ndarray]  # throughput: the 7 clips and the concatenation
    bare_pipeline: BatchedInferencePipeline

    @classmethod
    def build(cls) -> Workload:
        clips = load_clips()
        long_audio = concatenate(clips)
        return cls(
            {
                "concatenated clips": (long_audio, " ".join(clip.transcript for clip in clips)),
                "jfk": (clips[0].samples, clips[0].transcript),
            },
            [clip.samples for clip in clips] + [long_audio],
            BatchedInferencePipeline(bare_model()),
        )

    @property
    def batch_seconds(self) -> float:
        return sum(samples.size for samples in self.batch) / SAMPLE_RATE


def latency_phases(
    work: Workload,
    service: AsrService,
    url: str,
    token: str,
    runs: int,
    pids: PidList,
    other_slots: AsrService | None = None,
) -> None:
    """`other_slots`, when given, is a service with another number of decode slots
    (ASR_WORKERS) measured in the same rotation, so its lone-file cost is set against bare in
    the same run."""
    with (
        grpc.insecure_channel(service.target) as channel,
        grpc.insecure_channel((other_slots or service).target) as other_slots_channel,
        httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=600) as client,
    ):
        stub = service.stub(channel)
        for name, (samples, reference) in work.files.items():
            wav = wav_bytes(samples)
            rest_name, rest = rest_recognizer(client, url, wav)
            paths = {
                "bare": partial(bare_recognize, work.bare_pipeline, to_float32(samples)),
                "gRPC Recognize": grpc_recognizer(stub, service.metadata, wav),
                f"REST {rest_name}": rest,
            }
            if other_slots is not None:
                paths[f"gRPC Recognize, {other_slots.name}"] = grpc_recognizer(
                    other_slots.stub(other_slots_channel), other_slots.metadata, wav
                )
            with phase(f"latency, {name}", pids):
                results = measure_latency(paths, runs)
            print_latency(name, samples.size / SAMPLE_RATE, reference, results)


def throughput_phases(
    work: Workload, service: AsrService, workers: int, pids: PidList
) -> list[Throughput]:
    rows = []
    if workers == DEFAULT_WORKERS:
        bare = [partial(bare_recognize, work.bare_pipeline, to_float32(s)) for s in work.batch]
        with phase("throughput, bare", pids):
            rows.append(throughput("bare, sequential", bare, work.batch_seconds, False))
    wavs = [wav_bytes(samples) for samples in work.batch]
    with phase(f"throughput, ASR_WORKERS={workers}", pids):
        rows += service_throughput(service, wavs, work.batch_seconds, workers)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 runs, the default ASR_WORKERS only")
    parser.add_argument("--runs", type=int, default=15, help="latency runs per path and file")
    parser.add_argument(
        "--workers",
        default=f"{DEFAULT_WORKERS},1",
        help="ASR_WORKERS settings for throughput (the default's service is always measured)",
    )
    parser.add_argument("--max-load", type=float, default=0.5)
    parser.add_argument("--patience", type=float, default=900, help="seconds to wait for it")
    args = parser.parse_args()
    runs = 2 if args.quick else args.runs
    workers = [DEFAULT_WORKERS] if args.quick else [int(w) for w in args.workers.split(",")]

    load = wait_for_quiet(args.max_load, args.patience)
    print(f"machine: {describe()}; load average at start {load:.2f}", flush=True)
    work = Workload.build()
    token = secrets.token_urlsafe(16)
    state = Path(tempfile.mkdtemp(prefix="paneas-bench-asr-"))
    concatenated = state / "concatenated.wav"
    concatenated.write_bytes(wav_bytes(work.files["concatenated clips"][0]))
    print(f"the concatenated clips are in {concatenated}")
    rows: list[Throughput] = []
    others = [w for w in workers if w != DEFAULT_WORKERS]
    with (
        asr_service(token) as service,
        asr_service(token, workers=others[0]) if others else nullcontext() as second,
        gateway(token, {"asr": service.target}, state, {"LOG_LEVEL": "WARNING"}) as (url, gw),
    ):

        def pids() -> list[int]:
            return [*service.pids(), gw.process.pid, *(second.pids() if second else [])]

        latency_phases(work, service, url, token, runs, pids, second)
        rows += throughput_phases(work, service, DEFAULT_WORKERS, pids)
    for count in others:
        with asr_service(token, workers=count) as service:
            rows += throughput_phases(work, service, count, service.pids)
    print_throughput(rows)
    print(f"\nload average at end {os.getloadavg()[0]:.2f}; service logs in {LOGS}")


if __name__ == "__main__":
    main()
