"""What an attack costs the server: hostile requests against real services, measured from
outside (peak resident memory from /proc, the event loop's stall as the worst latency of a
health check sent every 100 ms, a victim's p50).

    .venv/bin/python -m bench.abuse [--hours 4] [--victims 5]

Attacks (each alone, on a fresh ASR service with its defaults):
  flac-stated     two concurrent uploads of a FLAC of `--hours` of silence (a few MB, under
                  the 50 MB message limit); its container states the duration, within
                  ASR_MAX_AUDIO_SECONDS (14400), so both are decoded and run through the VAD
                  (vad_filter=True, as the gateway's /v1/audio routes set), window by window
  flac-unstated   the same files with the duration field zeroed (as a stream writes them): the
                  limit is enforced while decoding
  flac-over       two uploads of a FLAC stating one hour more than the limit: refused from the
                  container's header
The victim is an 11 s English clip (jfk) through Recognize, `--victims` times idle, then as
often as it can during the attack. Results go in docs/benchmarks.md ("Abuse").
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.services import grpc_service
from bench.stats import percentile
from paneas.asr.v1 import asr_pb2, asr_pb2_grpc
from tests.asr.test_file_limits import flac_of_silence
from tests.support.audio import sample_path

MB = 1024 * 1024


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Sampler:
    """Peak RSS of `pid` (every 20 ms) and the worst health-check round trip (every 100 ms:
    health is answered on the service's event loop, so its latency is the loop's stall)."""

    def __init__(self, pid: int, target: str) -> None:
        self.pid, self.target = pid, target
        self.baseline = rss_mb(pid)
        self.peak = self.baseline
        self.worst_health = 0.0
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._memory, daemon=True),
            threading.Thread(target=self._health, daemon=True),
        ]

    def _memory(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mb(self.pid))

    def _health(self) -> None:
        with grpc.insecure_channel(self.target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while not self._stop.wait(0.1):
                started = time.perf_counter()
                health.Check(health_pb2.HealthCheckRequest(), timeout=60)
                self.worst_health = max(self.worst_health, time.perf_counter() - started)

    def __enter__(self) -> Sampler:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


@dataclass
class Outcome:
    attack: str
    attack_seconds: float
    outcomes: list[str]
    rss_added_mb: float
    worst_health_ms: float
    victim_idle_p50: float
    victim_attack_p50: float
    victims_during: int


def attack(
    name: str,
    payload: bytes,
    token: str,
    victims: int,
) -> Outcome:
    env = {"API_TOKENS": token, "ASR_METRICS_PORT": "0", "LOG_LEVEL": "WARNING"}
    metadata = (("authorization", f"Bearer {token}"),)
    victim = asr_pb2.RecognizeRequest(
        audio=sample_path("jfk").read_bytes(), config=asr_pb2.RecognitionConfig(vad_filter=True)
    )
    hostile = asr_pb2.RecognizeRequest(
        audio=payload, config=asr_pb2.RecognitionConfig(vad_filter=True)
    )
    options = [("grpc.max_send_message_length", 64 * MB)]
    with grpc_service("asr", env, f"abuse-{name}") as (target, process):
        with grpc.insecure_channel(target, options=options) as channel:
            stub = asr_pb2_grpc.AsrServiceStub(channel)

            def timed(call: Callable[[], object]) -> float:
                started = time.perf_counter()
                call()
                return time.perf_counter() - started

            def recognize_victim() -> object:
                return stub.Recognize(victim, metadata=metadata, timeout=900)

            recognize_victim()  # warm-up: the first decode allocates what later ones reuse
            idle = [timed(recognize_victim) for _ in range(victims)]

            def hostile_call() -> str:
                try:
                    stub.Recognize(hostile, metadata=metadata, timeout=900)
                    return "OK"
                except grpc.RpcError as error:
                    return error.code().name

            during: list[float] = []
            with Sampler(process.process.pid, target) as sampler:
                started = time.perf_counter()
                with ThreadPoolExecutor(2) as pool:
                    calls = [pool.submit(hostile_call) for _ in range(2)]
                    time.sleep(0.5)
                    while not all(call.done() for call in calls):
                        during.append(timed(recognize_victim))
                    outcomes = [call.result() for call in calls]
                attack_seconds = time.perf_counter() - started
            return Outcome(
                name,
                attack_seconds,
                outcomes,
                sampler.peak - sampler.baseline,
                sampler.worst_health * 1000,
                percentile(idle, 0.5),
                percentile(during, 0.5) if during else float("nan"),
                len(during),
            )


def unstated(flac: bytes) -> bytes:
    data = bytearray(flac)
    data[8 + 13] &= 0xF0
    data[8 + 14 : 8 + 18] = b"\0\0\0\0"
    return bytes(data)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.abuse")
    parser.add_argument("--hours", type=float, default=4.0)
    parser.add_argument("--victims", type=int, default=5)
    parser.add_argument(
        "--attacks", default="flac-stated,flac-unstated,flac-over", help="comma-separated"
    )
    args = parser.parse_args()
    token = secrets.token_urlsafe(24)
    stated = flac_of_silence(args.hours)
    attacks = {
        "flac-stated": stated,
        "flac-unstated": unstated(stated),
        "flac-over": flac_of_silence(5.0),
    }
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    print(f"{cpu}, {os.cpu_count()} cores")
    window = os.environ.get("ASR_DECODE_WINDOW_SECONDS", "default")
    print(f"files: {args.hours:g} h FLAC {len(stated) / MB:.1f} MB; over: 5 h; window {window}")
    print(
        "| attack | outcome (2 calls) | attack s | RSS added MB | worst health ms "
        "| victim p50 idle s | victim p50 during s (n) |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, payload in attacks.items():
        if name not in args.attacks.split(","):
            continue
        result = attack(name, payload, token, args.victims)
        print(
            f"| {name} | {', '.join(result.outcomes)} | {result.attack_seconds:.1f} "
            f"| {result.rss_added_mb:.0f} | {result.worst_health_ms:.0f} "
            f"| {result.victim_idle_p50:.2f} | {result.victim_attack_p50:.2f} "
            f"({result.victims_during}) |",
            flush=True,
        )


if __name__ == "__main__":
    main()
