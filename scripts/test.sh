#!/usr/bin/env bash
# Quickstart command 2: install everything (with test tooling), check the contracts and the
# code style, then run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
export PATH="$PWD/.venv/bin:$PATH"
bash scripts/check-contracts.sh
ruff check .
ruff format --check .
exec python -m pytest "$@"
