#!/usr/bin/env bash
# Offline contract checks: buf lint, buf format, buf breaking, and generated stubs up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

buf lint
buf format --diff --exit-code

# Breaking changes against main; when we are main itself, against the previous commit.
if git rev-parse -q --verify main >/dev/null && git cat-file -e main:buf.yaml 2>/dev/null; then
  if [ "$(git rev-parse HEAD)" != "$(git rev-parse main)" ]; then
    buf breaking --against ".git#branch=main"
  elif git rev-parse -q --verify HEAD~1 >/dev/null && git cat-file -e HEAD~1:buf.yaml 2>/dev/null; then
    buf breaking --against ".git#ref=HEAD~1"
  fi
fi

fresh=$(mktemp -d)
trap 'rm -rf "$fresh"' EXIT
bash scripts/gen-proto.sh "$fresh"
if ! diff -r -q "$fresh/gen/python" gen/python -x __pycache__; then
  echo "gen/python is stale: run 'bash scripts/gen-proto.sh' and commit the result" >&2
  exit 1
fi
echo "contracts: lint, format, breaking and generated stubs OK"
