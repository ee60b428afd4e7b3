#!/usr/bin/env bash
# Regenerates gen/python from proto/ with buf and local plugins (no network).
# Usage: scripts/gen-proto.sh [BASE]   writes BASE/gen/python (BASE defaults to the repo).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
base="${1:-.}"
buf generate --output "$base"
# buf writes modules only; make every generated directory an importable package.
find "$base/gen/python/paneas" -type d -exec touch {}/__init__.py \;
cat > "$base/gen/python/paneas/__init__.py" <<'PY'
"""Paneas Stack. Generated contracts live in `paneas.<service>.v1`; the hand-written code is
mapped in as `paneas.services` and `paneas.gateway` (see setup.py)."""
PY
