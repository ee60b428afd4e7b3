"""What llama.cpp's portable build costs: tokens/s and answers of build variants, same machine,
same GGUF, same run.

    .venv/bin/python -m bench.llama_cpp_builds [--rounds 3] [--variants portable,llamafile,native]

Variants (each built once by scripts/install-llama-cpp.sh with LLAMA_CPP_EXTRA_CMAKE_ARGS and
cached by its flags; a first run compiles the missing ones, about 2 min each on 2 cores):
  portable   what setup installs: x86-64 AVX2/FMA/F16C baseline, no llamafile sgemm
  llamafile  the same baseline with the llamafile sgemm kernels (upstream's default)
  native     -march=native with llamafile: what setup built before, for the build host only
Each variant runs in its own process (its wheel unpacked to a directory on PYTHONPATH) on the
packaged SmolLM2-135M-Instruct Q4_1, all cores: prompt processing of a ~400-token prompt
(batched matrix multiplies, where the kernels differ most) and greedy generation of 128
tokens. The variants take turns within each round. Each also answers the 27-token ChatML
question "What is the capital of France?" greedily (the answer that went wrong on a Sapphire
Rapids host) and reports its first-token logits' largest difference from the portable build's.
Results in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.llm import machine
from bench.stats import percentile

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "portable": "",
    "llamafile": "-DGGML_LLAMAFILE=ON",
    "native": "-DGGML_NATIVE=ON -DGGML_LLAMAFILE=ON",
}
QUESTION = (
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
)
LONG_PROMPT = (
    "<|im_start|>user\n"
    + "Summarise the following notes. "
    + " ".join(
        f"Note {i}: the meeting moved to room {i + 3} at {i % 12 + 1} pm." for i in range(30)
    )
    + "<|im_end|>\n<|im_start|>assistant\n"
)


def worker(repeats: int) -> None:
    """Runs in the variant's process: prints one JSON line of measurements."""
    import time

    import llama_cpp
    import numpy as np

    from paneas.services.llm.assets import verify

    threads = os.cpu_count() or 1
    llama = llama_cpp.Llama(
        model_path=str(verify("smollm2-135m-instruct")),
        n_ctx=1024,
        n_threads=threads,
        n_threads_batch=threads,
        logits_all=True,
        verbose=False,
    )
    question = llama.tokenize(QUESTION.encode(), add_bos=False, special=True)
    llama.reset()
    llama.eval(question)
    first_logits = np.array(llama.scores[len(question) - 1]).tolist()
    answer: list[int] = []
    for _ in range(16):
        token = int(np.argmax(llama.scores[llama.n_tokens - 1]))
        if token == llama.token_eos():
            break
        answer.append(token)
        llama.eval([token])

    long_prompt = llama.tokenize(LONG_PROMPT.encode(), add_bos=False, special=True)
    prompt_rates, generation_rates = [], []
    for _ in range(repeats + 1):  # the first is a warm-up
        llama.reset()
        started = time.perf_counter()
        llama.eval(long_prompt)
        prompt_rates.append(len(long_prompt) / (time.perf_counter() - started))
        started = time.perf_counter()
        for _ in range(128):
            token = int(np.argmax(llama.scores[llama.n_tokens - 1]))
            llama.eval([token])
        generation_rates.append(128 / (time.perf_counter() - started))
    print(
        json.dumps(
            {
                "system_info": llama_cpp.llama_print_system_info().decode().strip(),
                "answer": llama.detokenize(answer).decode(errors="replace"),
                "first_logits": first_logits,
                "prompt_tokens": len(long_prompt),
                "prompt_rates": prompt_rates[1:],
                "generation_rates": generation_rates[1:],
            }
        )
    )


def unpacked(variant: str, cache: Path) -> Path:
    """The variant's wheel (built if missing) unpacked into a directory for PYTHONPATH."""
    env = {**os.environ, "LLAMA_CPP_EXTRA_CMAKE_ARGS": VARIANTS[variant]}
    wheel = subprocess.run(
        ["bash", "scripts/install-llama-cpp.sh", "--wheel"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # Every variant's wheel has the same file name: its cache folder (named by the build's
    # key) tells them apart.
    target = cache / Path(wheel).parent.name
    if not target.is_dir():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", target, wheel],
            check=True,
        )
    return target


def measure(variant: str, site: Path, repeats: int) -> dict:
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{ROOT}"}
    done = subprocess.run(
        [sys.executable, "-m", "bench.llama_cpp_builds", "--worker", "--repeats", str(repeats)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        return {"crashed": done.returncode, "stderr": done.stderr[-2000:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per process")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.repeats)
        return
    import numpy as np

    variants = args.variants.split(",")
    cache = Path(tempfile.gettempdir()) / "paneas-llama-cpp-builds"
    sites = {variant: unpacked(variant, cache) for variant in variants}
    print(f"machine: {machine()}", flush=True)
    runs: dict[str, list[dict]] = {variant: [] for variant in variants}
    for round_index in range(args.rounds):
        order = variants[round_index % len(variants) :] + variants[: round_index % len(variants)]
        for variant in order:
            runs[variant].append(measure(variant, sites[variant], args.repeats))

    baseline = next((r for r in runs.get("portable", []) if "first_logits" in r), None)
    print(f"\n{args.rounds} rounds x {args.repeats} runs, variants taking turns\n")
    print(
        f"{'variant':<10} {'prompt tok/s p50':>16} {'gen tok/s p50':>14} "
        f"{'max |dlogit| vs portable':>25}  answer"
    )
    for variant in variants:
        good = [r for r in runs[variant] if "answer" in r]
        if not good:
            crash = runs[variant][0]
            print(f"{variant:<10} crashed (exit {crash['crashed']}): {crash['stderr'][-300:]}")
            continue
        prompt = percentile([x for r in good for x in r["prompt_rates"]], 0.5)
        generation = percentile([x for r in good for x in r["generation_rates"]], 0.5)
        difference = (
            float(np.abs(np.array(good[0]["first_logits"]) - baseline["first_logits"]).max())
            if baseline
            else float("nan")
        )
        print(
            f"{variant:<10} {prompt:>16.1f} {generation:>14.1f} {difference:>25.4f}  "
            f"{good[0]['answer']!r}"
        )
    for variant in variants:
        good = [r for r in runs[variant] if "system_info" in r]
        if good:
            print(f"\n{variant}: {good[0]['system_info']}")


if __name__ == "__main__":
    main()
