"""vLLM engine benchmark: time to first token and tokens/s of the in-process vLLM engine.

    .venv-vllm/bin/python -m bench.llm_vllm [--model DIR_OR_ID] [--rounds 8] [--max-tokens 128]
        [--concurrency 1,4,16] [--max-model-len 2048] [--gpu-memory-utilization 0.25]
        [--dtype auto] [--quantization awq] [--tensor-parallel-size 1] [--enforce-eager]
        [--json FILE]

Loads one engine (`VllmEngine`, the service's adapter; default model: the packaged SmolLM2
converted by scripts/test-vllm.sh) and streams the same greedy chat through two paths, taking
turns, after a warm-up of each:
  bare    vLLM's `AsyncLLM.generate` on the adapter's own engine (token-id prompt, DELTA
          outputs, ignore_eos so every request generates exactly --max-tokens)
  engine  `VllmEngine.stream` (chat template, tokenization, delta shaping)
TTFT: from sending to the first chunk with content. tokens/s: (completion tokens - 1) /
(last token - first token). Then N concurrent engine streams for each --concurrency: TTFT
p50 and aggregate tokens/s (all completion tokens / wall time), which is where vLLM's
continuous batching shows. The same script runs on a GPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.machine import describe as describe_machine
from bench.stats import percentile
from paneas.services.llm.catalogue import VllmEngineSpec
from paneas.services.llm.engines.base import ChatParams
from paneas.services.llm.engines.vllm import VllmEngine

MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant. Answer in detail."},
    {
        "role": "user",
        "content": "Explain how a bicycle works, part by part: frame, wheels, chain, gears "
        "and brakes.",
    },
]


@dataclass
class Sample:
    ttft: float
    tokens_per_second: float
    completion_tokens: int


def default_model() -> str:
    root = (
        os.environ.get("PANEAS_MODELS_DIR")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "paneas" / "models"
    )
    return str(Path(root) / "smollm2-135m-instruct-hf")


def sample(sent: float, first: float | None, last: float, tokens: int) -> Sample:
    first = first if first is not None else last
    rate = (tokens - 1) / (last - first) if tokens > 1 and last > first else 0.0
    return Sample(first - sent, rate, tokens)


async def bare(engine: VllmEngine, prompt_ids: list[int], max_tokens: int) -> Sample:
    from vllm import SamplingParams
    from vllm.sampling_params import RequestOutputKind

    params = SamplingParams(
        temperature=0,
        max_tokens=max_tokens,
        ignore_eos=True,
        output_kind=RequestOutputKind.DELTA,
    )
    sent, first, tokens = time.perf_counter(), None, 0
    prompt = {"prompt_token_ids": prompt_ids}
    async for output in engine._engine.generate(prompt, params, uuid.uuid4().hex):
        choice = output.outputs[0]
        tokens += len(choice.token_ids)
        if first is None and choice.text:
            first = time.perf_counter()
    return sample(sent, first, time.perf_counter(), tokens)


async def adapter(engine: VllmEngine, max_tokens: int) -> Sample:
    params = ChatParams(messages=MESSAGES, temperature=0, max_tokens=max_tokens)
    sent, first, tokens = time.perf_counter(), None, 0
    async for delta in engine.stream(params):
        if first is None and delta.content:
            first = time.perf_counter()
        if delta.usage:
            tokens = delta.usage.completion_tokens
    return sample(sent, first, time.perf_counter(), tokens)


def describe(name: str, samples: list[Sample]) -> dict:
    ttfts = [s.ttft for s in samples]
    rates = [s.tokens_per_second for s in samples]
    result = {
        "path": name,
        "requests": len(samples),
        "ttft_p50_ms": round(percentile(ttfts, 0.5) * 1000, 1),
        "ttft_p95_ms": round(percentile(ttfts, 0.95) * 1000, 1),
        "tokens_per_second_mean": round(statistics.mean(rates), 1),
        "completion_tokens": sorted({s.completion_tokens for s in samples}),
    }
    print(
        f"{name:>8}  TTFT p50 {result['ttft_p50_ms']:8.1f} ms  p95 {result['ttft_p95_ms']:8.1f}"
        f" ms  {result['tokens_per_second_mean']:8.1f} tok/s  "
        f"({len(samples)} requests, completion tokens {result['completion_tokens']})"
    )
    return result


async def concurrent(engine: VllmEngine, streams: int, max_tokens: int) -> dict:
    started = time.perf_counter()
    samples = await asyncio.gather(*(adapter(engine, max_tokens) for _ in range(streams)))
    wall = time.perf_counter() - started
    total = sum(s.completion_tokens for s in samples)
    result = {
        "streams": streams,
        "ttft_p50_ms": round(percentile([s.ttft for s in samples], 0.5) * 1000, 1),
        "aggregate_tokens_per_second": round(total / wall, 1),
        "per_stream_tokens_per_second": round(
            statistics.mean(s.tokens_per_second for s in samples), 1
        ),
        "wall_s": round(wall, 2),
    }
    print(
        f"{streams:>4} streams  TTFT p50 {result['ttft_p50_ms']:8.1f} ms  aggregate "
        f"{result['aggregate_tokens_per_second']:8.1f} tok/s  per stream "
        f"{result['per_stream_tokens_per_second']:7.1f} tok/s  wall {wall:.1f} s"
    )
    return result


async def run(args: argparse.Namespace) -> dict:
    spec = VllmEngineSpec(
        kind="vllm",
        model=args.model,
        quantization=args.quantization,
        dtype=args.dtype,
        gpu_memory_utilization=args.gpu_memory_utilization,
        max_model_len=args.max_model_len,
        tensor_parallel_size=args.tensor_parallel_size,
        enforce_eager=args.enforce_eager,
    )
    engine = VllmEngine(spec)
    started = time.perf_counter()
    await engine.start()
    start_s = time.perf_counter() - started
    print(f"engine started in {start_s:.1f} s: {args.model}, context {engine.context_window}")
    try:
        prompt_ids = engine._prompt_ids(MESSAGES, [])
        await bare(engine, prompt_ids, args.max_tokens)
        await adapter(engine, args.max_tokens)
        results: dict[str, list[Sample]] = {"bare": [], "engine": []}
        for round_ in range(args.rounds):
            order = ["bare", "engine"] if round_ % 2 == 0 else ["engine", "bare"]
            for name in order:
                if name == "bare":
                    results[name].append(await bare(engine, prompt_ids, args.max_tokens))
                else:
                    results[name].append(await adapter(engine, args.max_tokens))
        single = [describe(name, samples) for name, samples in results.items()]
        batched = [await concurrent(engine, n, args.max_tokens) for n in args.concurrency]
    finally:
        await engine.close()
    return {
        "model": args.model,
        "machine": describe_machine(),
        "prompt_tokens": len(prompt_ids),
        "max_tokens": args.max_tokens,
        "engine_start_s": round(start_s, 1),
        "single_stream": single,
        "concurrent": batched,
        "samples": {name: [asdict(s) for s in samples] for name, samples in results.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=default_model())
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--concurrency", default="1,4,16")
    parser.add_argument("--max-model-len", type=int, default=2048)
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.25)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--quantization", default=None)
    parser.add_argument("--tensor-parallel-size", type=int, default=1)
    parser.add_argument("--enforce-eager", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    args.concurrency = [int(n) for n in args.concurrency.split(",") if n]
    report = asyncio.run(run(args))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


# vLLM starts its engine processes with spawn, which re-imports this module.
if __name__ == "__main__":
    main()
