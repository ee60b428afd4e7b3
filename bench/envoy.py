"""Envoy in front of the services: what it adds, and how it spreads live ASR sessions.

    .venv/bin/python bench/envoy.py [--calls 300] [--sessions 1000] [--instances 4]

1. Added latency: the same process (OCR ListEngines, unary; a short ASR live stream, setup
   to summary) called directly and through Envoy, interleaved call by call; p50/p95, ratios.
2. Distribution of session ids over N ASR instances for MAGLEV and RING_HASH, through two
   real Envoys on the same instances (the instance read from `x-paneas-instance`).
3. Keys moved when one instance leaves (SIGTERM drain, ejected by health checks): among
   sessions whose instance survived (0 is ideal), and overall.
Results go in docs/benchmarks.md (section "Envoy").
"""

import argparse
import asyncio
import secrets
import signal
import statistics
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import grpc

from bench.machine import describe
from paneas.asr.v1 import asr_pb2, asr_pb2_grpc
from paneas.ocr.v1 import ocr_pb2, ocr_pb2_grpc
from paneas.services.envoy.config import local_target
from paneas.services.envoy.process import EnvoyProcess
from paneas.services.processes import ServiceProcess, free_port, grpc_serving, wait_until

# The checkout: the commit measured.
REPO = Path(__file__).resolve().parents[1]


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


async def short_stream(stub, metadata, session_id: str) -> str:
    async def requests():
        yield asr_pb2.StreamingRecognizeRequest(
            streaming_config=asr_pb2.StreamingRecognitionConfig(sample_rate_hertz=16000)
        )
        yield asr_pb2.StreamingRecognizeRequest(audio=bytes(3200))

    call = stub.StreamingRecognize(requests(), metadata=(*metadata, ("x-session-id", session_id)))
    async for _ in call:
        pass
    return dict(await call.initial_metadata())["x-paneas-instance"]


async def latency(direct: dict[str, str], envoy: str, metadata, calls: int, pinned: str) -> dict:
    results = {}
    async with (
        grpc.aio.insecure_channel(direct["ocr"]) as ocr_direct,
        grpc.aio.insecure_channel(direct["asr"]) as asr_direct,
        grpc.aio.insecure_channel(envoy) as via,
    ):
        unary = {
            "direct": ocr_pb2_grpc.OcrServiceStub(ocr_direct).ListEngines,
            "envoy": ocr_pb2_grpc.OcrServiceStub(via).ListEngines,
        }
        streams = {
            "direct": asr_pb2_grpc.AsrServiceStub(asr_direct),
            "envoy": asr_pb2_grpc.AsrServiceStub(via),
        }
        for path in ("direct", "envoy"):  # warm both connections
            await unary[path](ocr_pb2.ListEnginesRequest(), metadata=metadata)
            await short_stream(streams[path], metadata, "warm")
        times = {(kind, path): [] for kind in ("unary", "stream") for path in unary}
        for _ in range(calls):
            for path in ("direct", "envoy"):
                started = time.perf_counter()
                await unary[path](ocr_pb2.ListEnginesRequest(), metadata=metadata)
                times["unary", path].append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                # A session id Envoy hashes to instance 0, the direct one.
                await short_stream(streams[path], metadata, pinned)
                times["stream", path].append((time.perf_counter() - started) * 1000)
        for kind in ("unary", "stream"):
            d, e = times[kind, "direct"], times[kind, "envoy"]
            results[kind] = {
                "direct_p50": pct(d, 50),
                "direct_p95": pct(d, 95),
                "envoy_p50": pct(e, 50),
                "envoy_p95": pct(e, 95),
                "ratio_p50": pct(e, 50) / pct(d, 50),
                "ratio_p95": pct(e, 95) / pct(d, 95),
            }
    return results


async def assign(envoy: str, metadata, sessions: list[str]) -> dict[str, str]:
    async with grpc.aio.insecure_channel(envoy) as channel:
        stub = asr_pb2_grpc.AsrServiceStub(channel)
        return {sid: await short_stream(stub, metadata, sid) for sid in sessions}


async def main_async(args) -> None:
    token = secrets.token_urlsafe(16)
    metadata = (("authorization", f"Bearer {token}"),)
    work = Path(tempfile.mkdtemp(prefix="bench-envoy-"))
    procs, envoys = [], []
    try:
        ocr_port = free_port()
        ocr = ServiceProcess(
            "paneas.services.ocr",
            {"API_TOKENS": token, "OCR_PORT": str(ocr_port), "OCR_METRICS_PORT": "0"},
            work / "ocr.log",
        )
        procs.append(ocr)
        asr = []
        for i in range(args.instances):
            port = free_port()
            env = {
                "API_TOKENS": token,
                "ASR_PORT": str(port),
                "ASR_METRICS_PORT": "0",
                "ASR_INSTANCE": f"asr-{i}",
                "ASR_WARMUP": "false",
                "ASR_CPU_THREADS": "1",
                "ASR_LLM_TARGET": "",
                "ASR_SHUTDOWN_GRACE_SECONDS": "5",
            }
            asr.append((port, ServiceProcess("paneas.services.asr", env, work / f"asr-{i}.log")))
        procs += [p for _, p in asr]
        wait_until(lambda: grpc_serving(f"127.0.0.1:{ocr_port}"), "ocr", ocr.process)
        for port, proc in asr:
            wait_until(lambda p=port: grpc_serving(f"127.0.0.1:{p}"), "asr", proc.process)
        ports = [p for p, _ in asr]
        for policy in ("MAGLEV", "RING_HASH"):
            (work / policy).mkdir()
            target = local_target(
                ports, {"ocr": ocr_port}, free_port(), free_port(), lb_policy=policy
            )
            target.upstreams.pop("llm"), target.upstreams.pop("tts")
            envoy = EnvoyProcess(target, work / policy, token)
            envoys.append(envoy)
            wait_until(envoy.ready, "envoy", envoy.process, 30)
            envoy.wait_healthy("asr", set(ports))
            envoy.wait_healthy("ocr", {ocr_port})

        # Instance 0 directly vs Envoy pinned by a session id that hashes to instance 0.
        async with grpc.aio.insecure_channel(envoys[0].address) as channel:
            stub = asr_pb2_grpc.AsrServiceStub(channel)
            pinned = "b0"
            for i in range(1000):
                pinned = f"b{i}"
                if await short_stream(stub, metadata, pinned) == "asr-0":
                    break
        lat = await latency(
            {"ocr": f"127.0.0.1:{ocr_port}", "asr": f"127.0.0.1:{ports[0]}"},
            envoys[0].address,
            metadata,
            args.calls,
            pinned,
        )
        sessions = [uuid.uuid4().hex for _ in range(args.sessions)]
        before = {}
        for envoy in envoys:
            before[envoy.target.lb_policy] = await assign(envoy.address, metadata, sessions)
        # One instance leaves (drains on SIGTERM), health checks take it out.
        leaving_port, leaving = asr[-1]
        leaving.process.send_signal(signal.SIGTERM)
        for envoy in envoys:
            deadline = time.monotonic() + 30
            while leaving_port in envoy.healthy_ports("asr") and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        after = {}
        for envoy in envoys:
            after[envoy.target.lb_policy] = await assign(envoy.address, metadata, sessions)
    finally:
        for envoy in envoys:
            envoy.stop()
        for proc in procs:
            proc.stop()

    commit = subprocess.run(  # noqa: ASYNC221 (once, after the measurements)
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
    ).stdout.strip()
    print(f"machine: {describe()}; "
          f"date {time.strftime('%Y-%m-%d')}; commit {commit}")  # fmt: skip
    print(f"\nadded latency, {args.calls} interleaved calls each (ms):")
    print("| call | direct p50 | direct p95 | Envoy p50 | Envoy p95 | ratio p50 | ratio p95 |")
    print("|---|---|---|---|---|---|---|")
    names = {"unary": "OCR ListEngines (unary)", "stream": "ASR stream setup→summary"}
    for kind, r in lat.items():
        print(
            f"| {names[kind]} | {r['direct_p50']:.2f} | {r['direct_p95']:.2f} | "
            f"{r['envoy_p50']:.2f} | {r['envoy_p95']:.2f} | {r['ratio_p50']:.2f} | "
            f"{r['ratio_p95']:.2f} |"
        )
    print(f"\n{args.sessions} session ids over {args.instances} instances, then asr-"
          f"{args.instances - 1} leaves:")  # fmt: skip
    print("| policy | sessions per instance | max/mean | moved (survivor's) | moved (all) |")
    print("|---|---|---|---|---|")
    gone = f"asr-{args.instances - 1}"
    for policy in ("MAGLEV", "RING_HASH"):
        counts = Counter(before[policy].values())
        spread = ", ".join(f"{name} {counts[name]}" for name in sorted(counts))
        mean = args.sessions / args.instances
        survivors = [s for s in sessions if before[policy][s] != gone]
        moved = sum(before[policy][s] != after[policy][s] for s in survivors)
        moved_all = sum(before[policy][s] != after[policy][s] for s in sessions)
        print(
            f"| {policy} | {spread} | {max(counts.values()) / mean:.3f} | "
            f"{moved}/{len(survivors)} | {moved_all}/{len(sessions)} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--instances", type=int, default=4)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
