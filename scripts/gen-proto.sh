#!/usr/bin/env bash
# Regenerates gen/python from proto/ with buf and local plugins (no network).
set -euo pipefail
cd "$(dirname "$0")/.."
buf generate
# buf writes modules only; make every generated directory an importable package.
find gen/python/paneas -type d -exec touch {}/__init__.py \;
cat > gen/python/paneas/__init__.py <<'PY'
"""Paneas Stack. Generated contracts live in `paneas.<service>.v1`; the hand-written code is
mapped in as `paneas.services` and `paneas.gateway` (see pyproject.toml)."""
PY
