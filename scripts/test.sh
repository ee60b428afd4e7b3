#!/usr/bin/env bash
# Quickstart command 2: install everything (with test tooling), check the contracts and the
# code style, then run the whole test suite, and the vLLM engine's tests in their own venv
# (scripts/test-vllm.sh). Extra arguments go to pytest, and then only the main suite runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
export PATH="$PWD/.venv/bin:$PATH"
bash scripts/check-contracts.sh
ruff check .
ruff format --check .
if [ $# -gt 0 ]; then
  exec python -m pytest "$@"
fi
python -m pytest
exec bash scripts/test-vllm.sh
