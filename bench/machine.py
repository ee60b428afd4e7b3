"""The machine a benchmark ran on, for its report: every figure in docs/benchmarks.md names
the CPU model, since our machines' CPUs differ (AMD and Intel, with and without AVX-512)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    names = (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    return next(names, platform.processor() or "unknown CPU")


def describe() -> str:
    """`<CPU model>, <N> cores, <arch>, Python <version>`."""
    return (
        f"{cpu_model()}, {os.cpu_count()} cores, {platform.machine()}, "
        f"Python {platform.python_version()}"
    )
