"""llama.cpp computes right on this CPU: its greedy continuations and first-token logits match
an independent reference on the same weights.

A build that ran fine but answered wrong (the llamafile sgemm path, on a Sapphire Rapids host
and on AMD EPYC alike: "La femme de France, ..." where the model says "The capital of France
is Paris.") is worse than one that crashes, and only a comparison with another implementation
catches it. The
reference is transformers in float32 on the same GGUF, dequantised on load: same weights,
none of ggml's kernels. It lives in this venv because that is where torch and transformers
are; the llama.cpp here is installed from the same cached wheel as the project venv's
(scripts/install-llama-cpp.sh), which the first test checks byte for byte.
"""

import hashlib
from pathlib import Path

import numpy as np
import pytest

from paneas.services.llm.assets import verify

MODEL = "smollm2-135m-instruct"
PROJECT_VENV = Path(__file__).resolve().parents[2] / ".venv"
# (system, user, a word the answer holds) with one clear answer each; the continuation is
# compared token by token.
PROMPTS = [
    ("You are a helpful assistant.", "What is the capital of France?", "Paris"),
    ("You are a helpful assistant.", "Count from one to ten.", "5"),
    ("You are a concise assistant.", "Name three primary colours.", "blue"),
]
NEW_TOKENS = 24
# ggml multiplies Q4_1 weights with activations quantised to 8 bits (Q8_1), the reference in
# float32 on the dequantised weights. Measured on a right build (AMD EPYC, AVX2): over the
# 49,152-token vocabulary logits differ by at most ~1.2 (mean ~0.3, on a range of ~40),
# correlation >= 0.998, KL(reference || llama.cpp) <= 0.006. The llamafile build that said
# "La femme de France" is not far off by these measures (first token: max 0.86, KL 0.008, see
# docs/benchmarks.md, "llama.cpp build"): the reference itself puts "The" only 0.095 logits
# above "La" there, and that build's slightly larger error flips the tie. So the bounds below
# catch a broken kernel, and the answer's word (last check) is deliberately strict: a build
# must land on the reference's side of that tie, as every build we ship does.
MIN_CORRELATION = 0.99
MAX_KL = 0.05
# A greedy step may pick another token than the reference's best only within this many logits
# of it (a near-tie that the 8-bit activations can flip).
TIE_MARGIN = 1.0


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def gguf() -> Path:
    return verify(MODEL)


@pytest.fixture(scope="module")
def llama(gguf):
    from llama_cpp import Llama

    model = Llama(model_path=str(gguf), n_ctx=512, logits_all=True, verbose=False, seed=0)
    yield model
    model.close()


@pytest.fixture(scope="module")
def reference(gguf):
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    model.eval()

    def logits(tokens: list[int]) -> np.ndarray:
        with torch.no_grad():
            output = model(torch.tensor([tokens]))
        return output.logits[0].numpy()

    return logits


def chatml(llama, system: str, user: str) -> list[int]:
    text = (
        f"<|im_start|>system\n{system}<|im_end|>\n"
        f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
    )
    return llama.tokenize(text.encode(), add_bos=False, special=True)


def greedy_continuation(llama, prompt: list[int]) -> tuple[list[int], np.ndarray]:
    """llama.cpp's greedy tokens and the logits of every position it evaluated."""
    llama.reset()
    llama.eval(prompt)
    tokens: list[int] = []
    for _ in range(NEW_TOKENS):
        next_token = int(np.argmax(llama.scores[llama.n_tokens - 1]))
        tokens.append(next_token)
        if next_token == llama.token_eos():
            break
        llama.eval([next_token])
    return tokens, np.array(llama.scores[: llama.n_tokens])


def kl_divergence(reference: np.ndarray, ours: np.ndarray) -> float:
    """KL(p || q) of the softmax distributions of two logit vectors, in nats."""
    p = np.exp(reference - reference.max())
    p /= p.sum()
    log_q = ours - ours.max()
    log_q -= np.log(np.exp(log_q).sum())
    return float((p * (np.log(p + 1e-30) - log_q)).sum())


def test_this_venv_runs_the_project_venvs_llama_cpp_build():
    import llama_cpp

    here = Path(llama_cpp.__file__).parent / "lib"
    theirs = sorted(PROJECT_VENV.glob("lib/python3*/site-packages/llama_cpp/lib"))
    if not theirs:
        pytest.skip(f"no project venv at {PROJECT_VENV}")
    for library in sorted(here.glob("lib*.so")):
        assert sha256(library) == sha256(theirs[0] / library.name), library.name


@pytest.mark.parametrize("system,user,word", PROMPTS, ids=["capital", "numbers", "colours"])
def test_greedy_continuation_and_logits_match_the_reference(llama, reference, system, user, word):
    prompt = chatml(llama, system, user)
    tokens, llama_logits = greedy_continuation(llama, prompt)
    text = llama.detokenize(tokens).decode(errors="replace")
    # Teacher forcing: the reference scores the very sequence llama.cpp produced.
    reference_logits = reference(prompt + tokens)

    # The first new token's distribution, over the whole vocabulary.
    first = len(prompt) - 1
    ours, theirs = llama_logits[first], reference_logits[first]
    correlation = float(np.corrcoef(ours, theirs)[0, 1])
    assert correlation >= MIN_CORRELATION, f"first-token logits correlate at {correlation:.4f}"
    divergence = kl_divergence(theirs, ours)
    assert divergence <= MAX_KL, f"first-token KL(reference || llama.cpp) = {divergence:.4f}"

    for step, token in enumerate(tokens):
        position = len(prompt) - 1 + step
        expected = reference_logits[position]
        best = int(np.argmax(expected))
        shortfall = expected[best] - expected[token]
        assert shortfall <= TIE_MARGIN, (
            f"step {step}: llama.cpp chose {llama.detokenize([token])!r}, the reference "
            f"{llama.detokenize([best])!r} by {shortfall:.2f} logits; llama.cpp said {text!r}"
        )
    assert word.lower() in text.lower(), text
