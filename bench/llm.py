"""LLM benchmark: time to first token and tokens/s through gRPC and REST vs llama.cpp called
directly, and the router's own overhead.

    .venv/bin/python -m bench.llm [--rounds 30] [--max-tokens 64] [--model auto]

Starts a real LLM service (the embedded catalogue: the packaged SmolLM2-135M-Instruct GGUF on
llama.cpp) and the gateway (rate limiting off) on loopback, and streams the same chat, greedy
(temperature 0, `--max-tokens` tokens), through five paths:
  bare    llama-cpp-python's `Llama.create_chat_completion(stream=True)` in this process, with
          the service's engine settings (same GGUF, n_ctx=0, same thread count)
  engine  the service's engine adapter in this process (`LlamaCppEngine.stream`)
  router  the service's router in this process (`ChatServing.generate` over a `ModelRouter`
          built as `paneas.services.llm.__main__` builds it), on that same engine
  grpc    `LlmService/StreamChat` through grpc.aio, include_usage
  rest    `POST /v1/chat/completions` with stream=true (SSE) through the gateway
TTFT: from sending to the first chunk with content. tokens/s: (completion tokens - 1) / (last
token - first token). The paths take turns, one request each, the order rotating every round,
after a warm-up of each; bare, the service and the client share the cores, so nothing runs
at once. Then `router.plan()` alone, and 4 concurrent gRPC streams (the CPU engine runs one
generation at a time: the figure is queueing). Results in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx

from bench.load import ForeignLoad, wait_for_quiet
from bench.machine import describe
from bench.paths import PathResult, interleaved
from bench.services import LOGS, gateway, grpc_service
from bench.stats import percentile
from paneas.llm.v1 import llm_pb2, llm_pb2_grpc
from paneas.services.processes import ServiceProcess, free_port

PACKAGED = "smollm2-135m-instruct"
TTFT_TARGET_MS = 3.0
# Long enough an answer that every path stops at max_tokens (finish_reason "length"), so
# all of them generate exactly the same number of tokens.
MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant. Answer in detail."},
    {
        "role": "user",
        "content": "Explain how a bicycle works, part by part: frame, wheels, chain, gears "
        "and brakes.",
    },
]
_ROLES = {"system": llm_pb2.ROLE_SYSTEM, "user": llm_pb2.ROLE_USER}


# --- one streamed answer ------------------------------------------------------------------


@dataclass
class Sample:
    ttft: float  # seconds from sending to the first token with content
    e2e: float  # seconds from sending to the end of the stream
    decode: float  # seconds from the first to the last token with content
    tokens: int  # completion tokens
    text: str
    finish: str

    @property
    def tokens_per_second(self) -> float:
        return (self.tokens - 1) / self.decode if self.decode > 0 and self.tokens > 1 else 0.0


class Timer:
    """Collects the arrival times of a stream's content pieces."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.first: float | None = None
        self.last = 0.0
        self.pieces: list[str] = []

    def content(self, text: str) -> None:
        if not text:
            return
        now = time.perf_counter()
        if self.first is None:
            self.first = now
        self.last = now
        self.pieces.append(text)

    def sample(self, tokens: int, finish: str) -> Sample:
        end = time.perf_counter()
        first = self.first if self.first is not None else end
        return Sample(
            first - self.started,
            end - self.started,
            self.last - first if self.first is not None else 0.0,
            tokens,
            "".join(self.pieces),
            finish,
        )


Path_ = Callable[[], Awaitable[Sample]]


# --- the paths ----------------------------------------------------------------------------


def bare_path(llama, max_tokens: int) -> Path_:
    """llama-cpp-python alone, with what the engine passes it for this request
    (engines/llama_cpp.py `_chunks`) minus the engine's token-counting logits processor.
    Blocks the event loop while it runs: nothing else is meant to run meanwhile."""

    async def call() -> Sample:
        timer = Timer()
        finish = ""
        chunks = 0
        for chunk in llama.create_chat_completion(
            messages=MESSAGES,
            temperature=0.0,
            top_p=1.0,
            max_tokens=max_tokens,
            stop=[],
            presence_penalty=0.0,
            frequency_penalty=0.0,
            stream=True,
        ):
            choice = chunk["choices"][0]
            text = (choice.get("delta") or {}).get("content") or ""
            chunks += bool(text)
            timer.content(text)
            finish = choice.get("finish_reason") or finish
        # The stream carries no usage: at "length" it is max_tokens (every token is text);
        # at "stop" the content chunks plus the end-of-sequence token.
        return timer.sample(max_tokens if finish == "length" else chunks + 1, finish)

    return call


def engine_path(engine, max_tokens: int) -> Path_:
    from paneas.services.llm.engines.base import ChatParams

    async def call() -> Sample:
        timer = Timer()
        params = ChatParams(messages=MESSAGES, temperature=0.0, max_tokens=max_tokens)
        tokens, finish = 0, ""
        async for delta in engine.stream(params):
            timer.content(delta.content)
            if delta.finish_reason:
                finish = delta.finish_reason
                tokens = delta.usage.completion_tokens if delta.usage else 0
        return timer.sample(tokens, finish)

    return call


def router_path(serving, model: str, max_tokens: int) -> Path_:
    from paneas.services.llm.engines.base import ChatParams

    async def call() -> Sample:
        timer = Timer()
        params = ChatParams(messages=MESSAGES, temperature=0.0, max_tokens=max_tokens)
        generation = await serving.generate(model, params)
        tokens, finish = 0, ""
        async for delta in generation.deltas:
            timer.content(delta.content)
            if delta.finish_reason:
                finish = delta.finish_reason
                tokens = delta.usage.completion_tokens if delta.usage else 0
        return timer.sample(tokens, finish)

    return call


def grpc_request(model: str, max_tokens: int) -> llm_pb2.StreamChatRequest:
    return llm_pb2.StreamChatRequest(
        model=model,
        messages=[llm_pb2.Message(role=_ROLES[m["role"]], content=m["content"]) for m in MESSAGES],
        sampling=llm_pb2.SamplingParams(temperature=0.0, max_tokens=max_tokens),
        include_usage=True,
    )


def grpc_path(stub, metadata, request: llm_pb2.StreamChatRequest) -> Path_:
    finishes = {
        v: k.removeprefix("FINISH_REASON_").lower() for k, v in llm_pb2.FinishReason.items()
    }

    async def call() -> Sample:
        timer = Timer()
        tokens, finish = 0, ""
        async for chunk in stub.StreamChat(request, metadata=metadata, timeout=300):
            for choice in chunk.choices:
                timer.content(choice.delta.content)
                if choice.finish_reason:
                    finish = finishes[choice.finish_reason]
            if chunk.HasField("usage"):
                tokens = chunk.usage.completion_tokens
        return timer.sample(tokens, finish)

    return call


def rest_path(client: httpx.AsyncClient, url: str, model: str, max_tokens: int) -> Path_:
    body = {
        "model": model,
        "messages": MESSAGES,
        "temperature": 0,
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }

    async def call() -> Sample:
        timer = Timer()
        tokens, finish = 0, ""
        async with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
            if response.status_code != 200:
                await response.aread()
                raise RuntimeError(f"REST {response.status_code}: {response.text}")
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    break
                chunk = json.loads(payload)
                for choice in chunk.get("choices") or []:
                    timer.content((choice.get("delta") or {}).get("content") or "")
                    finish = choice.get("finish_reason") or finish
                if chunk.get("usage"):
                    tokens = chunk["usage"]["completion_tokens"]
        return timer.sample(tokens, finish)

    return call


# --- services -----------------------------------------------------------------------------


@contextmanager
def llm_service(token: str, threads: int) -> Iterator[tuple[str, ServiceProcess]]:
    env = {
        "API_TOKENS": token,
        "LLM_METRICS_PORT": str(free_port()),
        # The catalogue's nested override: the engine uses exactly the bare engine's threads.
        "LLM_ENGINES__CPU__THREADS": str(threads),
    }
    with grpc_service("llm", env) as running:
        yield running


# --- measuring ----------------------------------------------------------------------------


async def timed_us(call: Callable[[], Awaitable[object]], count: int) -> list[float]:
    for _ in range(min(20, count)):
        await call()
    values = []
    for _ in range(count):
        started = time.perf_counter()
        await call()
        values.append((time.perf_counter() - started) * 1e6)
    return values


async def concurrent_grpc(
    call: Path_, streams: int, repeats: int
) -> tuple[list[list[Sample]], float]:
    """`streams` StreamChat calls at once, `repeats` times; each repeat's samples sorted by
    TTFT (first served first). Returns them and the total wall time."""
    batches = []
    wall = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        samples = await asyncio.gather(*(call() for _ in range(streams)))
        wall += time.perf_counter() - started
        batches.append(sorted(samples, key=lambda s: s.ttft))
    return batches, wall


# --- report -------------------------------------------------------------------------------


def machine() -> str:
    import llama_cpp

    # The build's own report of the kernels it holds (scripts/install-llama-cpp.sh: the
    # portable AVX2 baseline), so a result says which build it measured.
    build = llama_cpp.llama_print_system_info().decode().strip().rstrip(" |")
    return (
        f"{describe()}, llama-cpp-python {llama_cpp.__version__} ({build}), "
        f"grpcio {grpc.__version__}"
    )


def print_paths(results: dict[str, PathResult], labels: dict[str, str]) -> dict[str, bool]:
    bare = results["bare"]
    bare_ttft = bare.p("ttft", 0.5)
    bare_rate = bare.p("tokens_per_second", 0.5)
    print(
        f"\n{'path':<34} {'TTFT p50':>9} {'p95':>7} {'+TTFT p50':>10} {'paired':>7} "
        f"{'tok/s p50':>10} {'ratio':>6} {'e2e p50':>8} {'ratio':>6} {'tokens':>6}  same text"
    )
    reference = {s.text for s in bare.samples}
    met = {}
    for name, result in results.items():
        added = (result.p("ttft", 0.5) - bare_ttft) * 1000
        # Median of the round-by-round differences: less sensitive to slow drifts.
        paired = percentile(
            [(s.ttft - b.ttft) * 1000 for s, b in zip(result.samples, bare.samples, strict=True)],
            0.5,
        )
        rate = result.p("tokens_per_second", 0.5)
        tokens = sorted({s.tokens for s in result.samples})
        finishes = sorted({s.finish for s in result.samples})
        print(
            f"{labels[name]:<34} {result.p('ttft', 0.5) * 1000:6.2f} ms "
            f"{result.p('ttft', 0.95) * 1000:7.2f} {added:+10.2f} {paired:+7.2f} "
            f"{rate:10.1f} {rate / bare_rate:6.3f} {result.p('e2e', 0.5) * 1000:5.0f} ms "
            f"{result.p('e2e', 0.5) / bare.p('e2e', 0.5):6.3f} "
            f"{'/'.join(map(str, tokens)):>6}  {({s.text for s in result.samples}) == reference}"
            + ("" if finishes == ["length"] else f"  finish {finishes}")
        )
        if name in ("grpc", "rest"):
            met[name] = added < TTFT_TARGET_MS
    return met


def print_concurrency(batches: list[list[Sample]], wall: float, single: PathResult) -> None:
    streams = len(batches[0])
    print(f"\n{streams} concurrent gRPC streams, {len(batches)} times (one generation at a time)")
    print(f"{'served':<8} {'TTFT p50':>9} {'e2e p50':>9} {'tok/s p50':>10}")
    for rank in range(streams):
        samples = [batch[rank] for batch in batches]
        print(
            f"{rank + 1:<8} {percentile([s.ttft for s in samples], 0.5) * 1000:6.0f} ms "
            f"{percentile([s.e2e for s in samples], 0.5) * 1000:6.0f} ms "
            f"{percentile([s.tokens_per_second for s in samples], 0.5):10.1f}"
        )
    everyone = [s for batch in batches for s in batch]
    tokens = sum(s.tokens for s in everyone)
    print(
        f"TTFT p50 of all {len(everyone)} streams: "
        f"{percentile([s.ttft for s in everyone], 0.5) * 1000:.0f} ms "
        f"(one stream alone: {single.p('ttft', 0.5) * 1000:.1f} ms); aggregate "
        f"{tokens / wall:.1f} tokens/s (one stream alone: {single.p('tokens_per_second', 0.5):.1f})"
    )


# --- main ---------------------------------------------------------------------------------


def in_process_logging(path: Path) -> None:
    """The service's logging (JSON, INFO: the router writes one line per request), into a
    file instead of this benchmark's output."""
    from paneas.services.runtime.logs import configure_logging

    configure_logging("llm", "INFO", "json")
    handler = logging.getLogger().handlers[0]
    handler.setStream(path.open("a"))  # type: ignore[attr-defined]
    # Not this process's HTTP client: a log line per REST request would be charged to REST.
    logging.getLogger("httpx").setLevel(logging.WARNING)


async def run(args: argparse.Namespace, threads: int) -> None:
    from llama_cpp import Llama

    from paneas.services.llm.__main__ import configured_engines, load
    from paneas.services.llm.assets import packaged_gguf
    from paneas.services.llm.engines.base import ChatParams
    from paneas.services.llm.router import ModelRouter
    from paneas.services.llm.serving import ChatServing
    from paneas.services.llm.settings import LlmSettings

    token = secrets.token_urlsafe(16)
    work = Path(tempfile.mkdtemp(prefix="paneas-bench-llm-"))
    in_process_logging(LOGS / "llm-in-process.log")

    # The in-process router exactly as the service builds it, from the same settings.
    settings = LlmSettings()
    engines = configured_engines(settings)
    await load(engines, settings.warmup)
    router = ModelRouter(settings.models, engines, settings.router)
    serving = ChatServing(router, settings.router)
    engine = engines["cpu"]
    bare = Llama(
        model_path=str(packaged_gguf(PACKAGED)),
        n_ctx=0,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
    )
    print(
        f"model {PACKAGED} ({packaged_gguf(PACKAGED).name}), context {bare.n_ctx()}, "
        f"{threads} threads everywhere; engines served: {', '.join(engines)}; "
        f"model asked for: {args.model!r}",
        flush=True,
    )

    with (
        llm_service(token, threads) as (target, service),
        gateway(token, {"llm": target}, work) as (url, gw),
    ):
        pids = [service.process.pid, gw.process.pid]
        metadata = (("authorization", f"Bearer {token}"),)
        async with (
            grpc.aio.insecure_channel(target) as channel,
            httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=300) as http,
        ):
            stub = llm_pb2_grpc.LlmServiceStub(channel)
            request = grpc_request(args.model, args.max_tokens)
            paths: dict[str, Path_] = {
                "bare": bare_path(bare, args.max_tokens),
                "engine": engine_path(engine, args.max_tokens),
                "router": router_path(serving, args.model, args.max_tokens),
                "grpc": grpc_path(stub, metadata, request),
            }
            labels = {
                "bare": "bare llama-cpp-python",
                "engine": "engine adapter, in-process",
                "router": "router + engine, in-process",
                "grpc": "gRPC StreamChat",
                "rest": "REST /v1/chat/completions (SSE)",
            }
            probe = await http.post(f"{url}/v1/chat/completions", json={})
            if probe.status_code == 404:
                print("the gateway has no POST /v1/chat/completions yet: REST skipped")
            else:
                paths["rest"] = rest_path(http, url, args.model, args.max_tokens)

            watch = ForeignLoad(lambda: pids)
            results = await interleaved(paths, args.rounds, args.warmup)
            foreign = watch.share()
            print(
                f"\n{args.rounds} rounds, paths interleaved (order rotating), greedy, "
                f"max_tokens {args.max_tokens}; other processes' CPU meanwhile: {foreign:.1%}"
            )
            met = print_paths(results, labels)
            for name, ok in met.items():
                print(
                    f"target: {labels[name]} adds < {TTFT_TARGET_MS:g} ms TTFT p50: "
                    f"{'met' if ok else 'NOT met'}"
                )

            # The router's decision alone (token counting included), and its parts.
            params = ChatParams(messages=MESSAGES, temperature=0.0, max_tokens=args.max_tokens)
            plan = await timed_us(lambda: router.plan(args.model, params), args.plan_calls)
            count = await timed_us(lambda: engine.count_tokens(MESSAGES, []), args.plan_calls)

            async def count_inline() -> None:
                engine._count_tokens(MESSAGES, [])  # noqa: SLF001 - the work without the thread hop

            inline = await timed_us(count_inline, args.plan_calls)
            print(f"\nrouter.plan({args.model!r}) alone, {args.plan_calls} calls, microseconds:")
            for name, values in (
                ("router.plan()", plan),
                ("engine.count_tokens() (to_thread)", count),
                ("  of which template + tokenize", inline),
            ):
                print(
                    f"  {name:<36} p50 {percentile(values, 0.5):8.0f}  "
                    f"p95 {percentile(values, 0.95):8.0f}"
                )

            if args.streams > 1:
                watch = ForeignLoad(lambda: pids)
                batches, wall = await concurrent_grpc(paths["grpc"], args.streams, args.repeats)
                print_concurrency(batches, wall, results["grpc"])
                print(f"other processes' CPU meanwhile: {watch.share():.1%}")
    bare.close()
    for engine_ in engines.values():
        await engine_.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="requests per path")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up requests per path")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--model", default="auto", help="model name sent through the router")
    parser.add_argument("--threads", type=int, default=0, help="llama.cpp threads; 0: all cores")
    parser.add_argument("--plan-calls", type=int, default=500, help="router.plan() calls timed")
    parser.add_argument("--streams", type=int, default=4, help="concurrent gRPC streams; 1: skip")
    parser.add_argument("--repeats", type=int, default=5, help="concurrent batches")
    parser.add_argument("--max-load", type=float, default=0.5)
    parser.add_argument("--patience", type=float, default=600, help="seconds to wait for it")
    args = parser.parse_args()
    threads = args.threads or os.cpu_count() or 1

    # The embedded default deployment: no OpenAI key, so the external tier is not served
    # (with one, routing would also count tokens for gpt-4o-mini as a fallback).
    os.environ.pop("OPENAI_API_KEY", None)
    os.environ["LLM_ENGINES__CPU__THREADS"] = str(threads)

    LOGS.mkdir(exist_ok=True)
    load = wait_for_quiet(args.max_load, args.patience)
    print(f"machine: {machine()}; load average at start {load:.2f}", flush=True)
    asyncio.run(run(args, threads))
    print(f"\nload average at end {os.getloadavg()[0]:.2f}; service logs in {LOGS}")


if __name__ == "__main__":
    main()
