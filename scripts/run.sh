#!/usr/bin/env bash
# Quickstart command 1: install everything, then start the whole stack on its embedded default.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/paneas "$@"
