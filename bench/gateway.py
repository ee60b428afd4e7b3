"""Gateway benchmark: what REST transcoding adds to a cheap RPC, with rate limiting off,
in memory and on Redis.

    .venv/bin/python -m bench.gateway [--requests 2000]

Measures `OcrService/ListEngines` (no engine work: pure mesh overhead) sequentially over one
keep-alive connection:
  grpc                 the generated stub straight to the service (bare path)
  rest, limits off     GET /api/v1/ocr/engines through the gateway (auth always on)
  rest, limits memory  the same with the in-memory rate limiter
  rest, limits redis   the same with the limiter on a real redis-server
Prints req/s, p50/p99 and the added p50 over gRPC (target: < 2 ms). Results in
docs/benchmarks.md.
"""

import argparse
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import httpx

from bench.machine import describe
from bench.stats import percentile
from paneas.ocr.v1 import ocr_pb2, ocr_pb2_grpc
from paneas.services.processes import (
    LoggedProcess,
    ServiceProcess,
    free_port,
    grpc_serving,
    http_ok,
    redis_answers,
    redis_server_argv,
    wait_until,
)


def timed(call: Callable[[], object], count: int) -> list[float]:
    for _ in range(min(200, count // 5)):  # warm up connections and caches
        call()
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - started)
    return latencies


def start_redis(directory: Path) -> tuple[LoggedProcess, int]:
    port = free_port()
    redis = LoggedProcess(
        "redis", redis_server_argv(port), dict(os.environ), directory / "redis.log"
    )
    wait_until(lambda: redis_answers(port), "redis", redis.process, timeout=10)
    return redis, port


def measure_gateway(env: dict, target: str, token: str, work: Path, count: int) -> list[float]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    gateway = ServiceProcess(
        "paneas.gateway",
        {
            **env,
            "GATEWAY_PORT": str(port),
            "GATEWAY_OCR_TARGET": target,
            "ANALYTICS_ENABLED": "false",
        },
        work / f"gateway-{port}.log",
    )
    try:
        wait_until(lambda: http_ok(f"{url}/openapi.json"), "gateway", gateway.process)
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as client:
            return timed(lambda: client.get(f"{url}/api/v1/ocr/engines").raise_for_status(), count)
    finally:
        gateway.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    token = secrets.token_urlsafe(16)
    work = Path(tempfile.mkdtemp(prefix="paneas-bench-"))
    ocr_port = free_port()
    base_env = {"API_TOKENS": token, "LOG_LEVEL": "WARNING"}
    ocr = ServiceProcess(
        "paneas.services.ocr",
        {
            **base_env,
            "OCR_PORT": str(ocr_port),
            "OCR_METRICS_PORT": "0",
            "OCR_ENGINES": "tesseract",
        },
        work / "ocr.log",
    )
    redis, redis_port = start_redis(work)
    target = f"127.0.0.1:{ocr_port}"
    results: dict[str, list[float]] = {}
    try:
        wait_until(lambda: grpc_serving(target), "ocr", ocr.process)
        with grpc.insecure_channel(target) as channel:
            stub = ocr_pb2_grpc.OcrServiceStub(channel)
            metadata = (("authorization", f"Bearer {token}"),)
            request = ocr_pb2.ListEnginesRequest()
            results["grpc (bare)"] = timed(
                lambda: stub.ListEngines(request, metadata=metadata), args.requests
            )

        limits = {
            "rest, limits off": {"RATE_LIMIT_ENABLED": "false"},
            "rest, limits memory": {
                "RATE_LIMIT_ENABLED": "true",
                "RATE_LIMIT_GLOBAL": "100000000",
                "RATE_LIMIT_OCR": "100000000",
            },
            "rest, limits redis": {
                "RATE_LIMIT_ENABLED": "true",
                "RATE_LIMIT_GLOBAL": "100000000",
                "RATE_LIMIT_OCR": "100000000",
                "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            },
        }
        for name, env in limits.items():
            results[name] = measure_gateway({**base_env, **env}, target, token, work, args.requests)
    finally:
        ocr.stop()
        redis.stop()

    bare_p50 = percentile(results["grpc (bare)"], 0.5)
    print(f"machine: {describe()}")
    print(f"{args.requests} sequential ListEngines calls per path, one keep-alive connection")
    print(f"{'path':<22} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'added p50 ms':>13}")
    for name, latencies in results.items():
        p50 = percentile(latencies, 0.5)
        print(
            f"{name:<22} {len(latencies) / sum(latencies):8.0f} {p50 * 1000:8.2f} "
            f"{percentile(latencies, 0.99) * 1000:8.2f} {(p50 - bare_p50) * 1000:13.2f}"
        )


if __name__ == "__main__":
    main()
