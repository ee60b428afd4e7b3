"""Jobs benchmark: a one-hour call-like recording through a transcription job, with one ASR
instance and with two behind Envoy, next to faster-whisper on the whole file, in one run.

    .venv/bin/python -m bench.jobs [--quick] [--minutes 60] [--sequential]

The recording: real English speech (bench/asr_quality.py's `real_english`: jfk, beckett,
PocketSphinx's LibriVox sentences and card names, the voiced lines of Flight of the Amazon
Queen), every clip in a new shuffle each round, 0.3-3 s of silence between clips, until
`--minutes`; 16 kHz mono 16-bit WAV (115 MB an hour). Same model everywhere (the packaged
Whisper base, CPU, int8, beam 5, language "en", vad_filter on, as a job decodes by default):
  bare batched     `BatchedInferencePipeline.transcribe` on the whole file in this process
  bare sequential  `WhisperModel.transcribe` on the whole file (`--sequential`; slow)
  service decoder  the ASR service's own engine (`WhisperEngine.transcribe_file`, its
                   defaults) on the whole file in this process: what a job's chunks go
                   through, without the job; it splits a job's cost from bare into the
                   decoder's (it decodes again what the batched pipeline drops) and the job's
  job, 1 instance  POST /api/v1/jobs through a real gateway, jobs worker and redis-server to
                   one ASR service with its default threads (every core)
  job, N instances the same with GATEWAY_ASR_TARGET on Envoy in front of N ASR services
                   (`--instances`, default 2), each with ASR_CPU_THREADS = cores / N, or
                   with every core as the launcher starts them (`--all-cores-each`)
A job's wall time runs from the upload's first byte to the record saying `succeeded`; its
text is GET /result?format=text. Each phase runs alone, one after another; the load average
and the share of the CPU other processes used meanwhile are printed with it, since these
cores are shared. Results go in docs/benchmarks.md (section "Jobs").
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from faster_whisper import BatchedInferencePipeline

from bench.asr import DEFAULT_WORKERS, SAMPLE_RATE, asr_service, bare_model, to_float32, wav_bytes
from bench.asr_quality import Clip, joined, real_english
from bench.load import ForeignLoad
from bench.machine import describe
from bench.services import LOGS, gateway, grpc_service, stop
from paneas.services.asr.engine import DecodeOptions, WhisperEngine
from paneas.services.asr.evaluation import wer
from paneas.services.asr.settings import AsrSettings
from paneas.services.envoy.config import local_target
from paneas.services.envoy.process import EnvoyProcess
from paneas.services.processes import (
    LoggedProcess,
    ServiceProcess,
    free_port,
    redis_answers,
    redis_server_argv,
    wait_until,
)

SEED = 20261203
LANGUAGE = "en"
# The job's path: the gateway's default config but for the language, given to every path.
JOB_CONFIG = json.dumps({"language": LANGUAGE})


# --- the recording -----------------------------------------------------------------------


@dataclass(frozen=True)
class Recording:
    transcript: str
    samples: np.ndarray = field(repr=False)  # int16, 16 kHz mono
    clips: int

    @property
    def seconds(self) -> float:
        return self.samples.size / SAMPLE_RATE


def call_recording(minutes: float) -> Recording:
    """The clips, each round in a new shuffle, until `minutes` of audio: about 17 min of
    speech repeats in the hour, but never twice in the same neighbourhood."""
    clips = real_english()
    rng = np.random.default_rng(SEED)
    order: list[Clip] = []
    pauses: list[float] = []
    total = 0.0
    while total < minutes * 60:
        for index in rng.permutation(len(clips)):
            order.append(clips[index])
            pause = float(rng.uniform(0.3, 3.0))
            pauses.append(pause)
            total += clips[index].samples.size / SAMPLE_RATE + pause
            if total >= minutes * 60:
                break
    samples, transcript = joined(order, pauses)
    return Recording(transcript, samples, len(order))


# --- measuring ---------------------------------------------------------------------------


@dataclass
class Result:
    path: str
    wall_seconds: float
    wer: float
    others: float  # share of the CPU other processes used meanwhile
    load: tuple[float, float]  # 1-minute load average before and after
    note: str = ""


def measured(
    path: str, recording: Recording, run: Callable[[], str], pids: Callable[[], list[int]]
) -> Result:
    load_before = os.getloadavg()[0]
    watch = ForeignLoad(pids)
    started = time.perf_counter()
    text = run()
    seconds = time.perf_counter() - started
    result = Result(
        path,
        seconds,
        wer(recording.transcript, text),
        watch.share(),
        (load_before, os.getloadavg()[0]),
    )
    print(
        f"[{path}] {seconds:.1f} s, RTF {seconds / recording.seconds:.4f}, WER "
        f"{result.wer:.4f}; load {load_before:.2f} -> {result.load[1]:.2f}, other processes "
        f"{result.others:.0%} of the CPU",
        flush=True,
    )
    return result


def bare_batched(pipeline: BatchedInferencePipeline, audio: np.ndarray) -> str:
    segments, _ = pipeline.transcribe(
        audio, language=LANGUAGE, beam_size=5, vad_filter=True, batch_size=8
    )
    return " ".join(segment.text.strip() for segment in segments)


def bare_sequential(pipeline: BatchedInferencePipeline, audio: np.ndarray) -> str:
    segments, _ = pipeline.model.transcribe(audio, language=LANGUAGE, beam_size=5, vad_filter=True)
    return " ".join(segment.text.strip() for segment in segments)


def service_decoder(engine: WhisperEngine, audio: np.ndarray) -> str:
    """What the service runs for each chunk of a job (vad_filter on, the rest default)."""
    options = DecodeOptions(language=LANGUAGE, vad_filter=True)
    transcript = engine.transcribe_file(audio, options)
    return " ".join(segment.text.strip() for segment in transcript.segments)


def bare(recording: Recording, audio: np.ndarray, sequential: bool) -> list[Result]:
    """faster-whisper alone (the model is freed on return)."""
    pipeline = BatchedInferencePipeline(bare_model())
    paths = {"bare batched": bare_batched}
    if sequential:
        paths["bare sequential"] = bare_sequential
    return [
        measured(name, recording, lambda run=run: run(pipeline, audio), list)
        for name, run in paths.items()
    ]


def in_process(recording: Recording, sequential: bool) -> list[Result]:
    """In this process, one model at a time, before any service starts."""
    audio = to_float32(recording.samples)
    results = bare(recording, audio, sequential)
    engine = WhisperEngine(AsrSettings())
    engine.load()
    results.append(
        measured("service decoder", recording, lambda: service_decoder(engine, audio), list)
    )
    return results


def through_a_job(url: str, token: str, wav: Path) -> Callable[[], str]:
    def run() -> str:
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=900
        ) as client:
            with wav.open("rb") as audio:
                answer = client.post(
                    "/api/v1/jobs",
                    files={"file": ("call.wav", audio, "audio/wav")},
                    data={"config": JOB_CONFIG},
                )
            answer.raise_for_status()
            job_id = answer.json()["id"]
            while (job := client.get(f"/api/v1/jobs/{job_id}").json())["status"] in (
                "queued",
                "running",
            ):
                time.sleep(0.5)
            if job["status"] != "succeeded":
                raise RuntimeError(f"job {job_id} ended {job['status']}: {job.get('error')}")
            text = client.get(f"/api/v1/jobs/{job_id}/result", params={"format": "text"})
            text.raise_for_status()
            # The measured job is gone with its stored input (115 MB an hour).
            client.delete(f"/api/v1/jobs/{job_id}")
            return text.text

    return run


# --- the stack ---------------------------------------------------------------------------


@contextmanager
def redis() -> Iterator[tuple[str, int]]:
    """The broker: a redis-server on loopback; yields its URL and pid."""
    port = free_port()
    LOGS.mkdir(exist_ok=True)
    log = LOGS / f"redis-{port}.log"
    process = LoggedProcess("redis", redis_server_argv(port), dict(os.environ), log)
    try:
        wait_until(lambda: redis_answers(port, timeout=0.5), "redis-server", process.process, 10)
        yield f"redis://127.0.0.1:{port}/0", process.process.pid
    finally:
        process.stop()


@contextmanager
def asr_instances(
    token: str,
    count: int,
    work: Path,
    workers: int = DEFAULT_WORKERS,
    all_cores_each: bool = False,
) -> Iterator[tuple[str, list[int]]]:
    """One ASR service with its defaults (its target), or `count` behind an Envoy, the cores
    split between them unless `all_cores_each` (Envoy's address); yields the target and the
    services' pids."""
    if count == 1:
        with asr_service(token, workers) as service:
            yield service.target, service.pids()
        return
    # 0: the service's default, every core.
    threads = 0 if all_cores_each else max(1, (os.cpu_count() or 1) // count)
    with ExitStack() as stack:
        targets = []
        pids = []
        for number in range(count):
            env = {
                "API_TOKENS": token,
                "ASR_METRICS_PORT": "0",
                "ASR_INSTANCE": f"asr-{number}",
                "ASR_CPU_THREADS": str(threads),
                "LOG_LEVEL": "WARNING",
            }
            target, process = stack.enter_context(grpc_service("asr", env, f"asr-{number}"))
            targets.append(target)
            pids.append(process.process.pid)
        ports = [int(target.rsplit(":", 1)[1]) for target in targets]
        folder = work / f"envoy-{count}"
        folder.mkdir()
        envoy = EnvoyProcess(local_target(ports, {}, free_port(), free_port()), folder, token)
        stack.callback(envoy.stop)
        wait_until(envoy.ready, "envoy", envoy.process, 30)
        envoy.wait_healthy("asr", set(ports))
        yield envoy.address, [*pids, envoy.process.pid]


@contextmanager
def jobs_stack(
    token: str, asr_target: str, broker: str, work: Path, concurrency: int, chunk_seconds: float
) -> Iterator[tuple[str, list[int]]]:
    """A gateway with jobs on and one jobs worker, both on `asr_target`; yields the gateway's
    URL and both pids."""
    state = Path(tempfile.mkdtemp(prefix="jobs-", dir=work))
    env = {
        "JOBS_ENABLED": "true",
        "JOBS_BROKER_URL": broker,
        "JOBS_STORAGE_URL": (state / "storage").as_uri(),
        "DATABASE_URL": f"sqlite:///{state}/gateway.db",
        "JOBS_CHUNK_CONCURRENCY": str(concurrency),
        "JOBS_CHUNK_SECONDS": str(chunk_seconds),
        "JOBS_METRICS_PORT": "0",
        "ANALYTICS_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
    }
    # The gateway first: it migrates the job records' database the worker reads. The worker
    # logs at its default level, since its " ready." line says it takes tasks.
    worker_env = {**env, "API_TOKENS": token, "GATEWAY_ASR_TARGET": asr_target, "LOG_LEVEL": "INFO"}
    with gateway(token, {"asr": asr_target}, state, env) as (url, process):
        log = LOGS / f"jobs-worker-{state.name}.log"
        worker = ServiceProcess("paneas.gateway.jobs", worker_env, log)
        try:
            wait_until(lambda: " ready." in worker.log_text(), "jobs worker", worker.process, 60)
            yield url, [worker.process.pid, process.process.pid]
        finally:
            stop(worker)


# --- main --------------------------------------------------------------------------------


def report(recording: Recording, results: list[Result], instances: int) -> None:
    bare = results[0]
    print(f"\n{recording.seconds / 60:.1f} min of audio ({recording.clips} clips), WER against "
          "the clips' transcripts")  # fmt: skip
    print("| path | wall s | RTF | WER | wall / bare batched | load before → after | others' CPU |")
    print("|---|---|---|---|---|---|---|")
    for result in results:
        print(
            f"| {result.path} | {result.wall_seconds:.1f} | "
            f"{result.wall_seconds / recording.seconds:.4f} | {result.wer:.4f} | "
            f"{result.wall_seconds / bare.wall_seconds:.3f} | "
            f"{result.load[0]:.2f} → {result.load[1]:.2f} | {result.others:.0%} |"
        )
    jobs = {r.path: r for r in results if r.path.startswith("job")}
    one = jobs.get("job, 1 instance")
    many = jobs.get(f"job, {instances} instances")
    if one:
        verdict = "met" if one.wall_seconds <= 1.15 * bare.wall_seconds else "NOT met"
        print(f"\ngoal, job (1 instance) within 1.15x of bare batched: {verdict} "
              f"({one.wall_seconds / bare.wall_seconds:.3f}x); WER job - bare "
              f"{one.wer - bare.wer:+.4f}")  # fmt: skip
        decoder = next(r for r in results if r.path == "service decoder")
        print(
            f"of which the service's decoder {decoder.wall_seconds / bare.wall_seconds:.3f}x "
            f"bare, the job {one.wall_seconds / decoder.wall_seconds:.3f}x its decoder"
        )
    if one and many:
        speed_up = one.wall_seconds / many.wall_seconds
        print(
            f"speed-up, {instances} instances over 1: {speed_up:.2f}x (on {os.cpu_count()} "
            "cores the instances split the same cores; N GPUs not measured here)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the recording")
    parser.add_argument("--quick", action="store_true", help="5 minutes, one instance only")
    parser.add_argument("--instances", type=int, default=2, help="ASR instances behind Envoy")
    parser.add_argument(
        "--sequential", action="store_true", help="also WhisperModel.transcribe (slow)"
    )
    parser.add_argument(
        "--asr-workers",
        type=int,
        default=DEFAULT_WORKERS,
        help="ASR_WORKERS of the single instance (the service's default)",
    )
    parser.add_argument(
        "--all-cores-each",
        action="store_true",
        help="N instances each on every core (the launcher's way), not cores / N each",
    )
    parser.add_argument("--chunk-seconds", type=float, default=300.0, help="JOBS_CHUNK_SECONDS")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=0,
        help="JOBS_CHUNK_CONCURRENCY (default: instances + 1, to keep them fed)",
    )
    args = parser.parse_args()
    minutes = 5.0 if args.quick else args.minutes

    recording = call_recording(minutes)
    work = Path(tempfile.mkdtemp(prefix="paneas-bench-jobs-"))
    wav = work / "call.wav"
    wav.write_bytes(wav_bytes(recording.samples))
    print(f"machine: {describe()}; load average at start "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")  # fmt: skip
    print(f"recording: {recording.seconds / 60:.1f} min, {recording.clips} clips, "
          f"{wav.stat().st_size / 1e6:.0f} MB WAV in {wav}", flush=True)  # fmt: skip

    results = in_process(recording, args.sequential)
    token = secrets.token_urlsafe(16)
    counts = [1] if args.quick else [1, args.instances]
    with redis() as (broker, redis_pid):
        for count in counts:
            # As many chunks in flight as instances, and one more to keep them fed.
            concurrency = args.concurrency or count + 1
            with (
                asr_instances(token, count, work, args.asr_workers, args.all_cores_each) as (
                    target,
                    asr_pids,
                ),
                jobs_stack(token, target, broker, work, concurrency, args.chunk_seconds) as (
                    url,
                    job_pids,
                ),
            ):
                label = "job, 1 instance" if count == 1 else f"job, {count} instances"
                results.append(
                    measured(
                        label,
                        recording,
                        through_a_job(url, token, wav),
                        lambda pids=[*asr_pids, *job_pids, redis_pid]: pids,
                    )
                )
    report(recording, results, args.instances)
    wav.unlink()
    print(f"\nload average at end {' '.join(f'{v:.2f}' for v in os.getloadavg())}; "
          f"service logs in {LOGS}")  # fmt: skip


if __name__ == "__main__":
    main()
