"""The installed llama.cpp is the portable build scripts/setup.sh makes, whatever CPU built it.

A build for the build host's CPU (GGML_NATIVE) crashed on a Sapphire Rapids machine in ggml's
AMX path and can fault on any CPU older than the one that built it; the llamafile sgemm
kernels answered wrong there. These tests read what the installed library itself reports and
what its machine code holds, so a native, AVX-512, AMX or llamafile build fails here on any
host, including one whose CPU has those features.
"""

import re
import shutil
import subprocess
from pathlib import Path

import llama_cpp
import pytest

LIB_DIR = Path(llama_cpp.__file__).parent / "lib"


def system_info() -> dict[str, str]:
    """llama.cpp's own `llama_print_system_info()`: "CPU : SSE3 = 1 | AVX2 = 1 | ..."."""
    text = llama_cpp.llama_print_system_info().decode()
    return dict(re.findall(r"([A-Z0-9_]+) = (\w+)", text))


def test_system_info_reports_the_avx2_baseline_and_nothing_host_specific():
    info = system_info()
    assert info, llama_cpp.llama_print_system_info()
    for feature in ("AVX", "AVX2", "FMA", "F16C"):
        assert info.get(feature) == "1", f"{feature} missing from the build: {info}"
    # Features the baseline must not assume (absent from the report means not compiled in).
    for feature, value in info.items():
        if feature.startswith(("AVX512", "AMX", "AVX_VNNI")):
            assert value == "0", f"{feature} = {value}: a host-specific build ({info})"
    assert info.get("LLAMAFILE", "0") == "0", f"llamafile sgemm is compiled in: {info}"


# Runs objdump.
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("objdump") is None, reason="binutils' objdump is not installed")
def test_cpu_backend_holds_no_avx512_or_amx_instructions():
    """Machine code, not flags: a zmm register or an AMX tile instruction faults on the CPUs
    of our machines that lack them (and ggml's runtime checks do not guard every path)."""
    libraries = sorted(LIB_DIR.glob("libggml-cpu*.so*"))
    assert libraries, f"no ggml CPU backend in {LIB_DIR}"
    for library in libraries:
        disassembly = subprocess.run(
            ["objdump", "-d", "--no-show-raw-insn", str(library)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "%ymm" in disassembly, f"{library.name} has no AVX2 code: not the baseline"
        zmm = disassembly.count("%zmm")
        assert zmm == 0, f"{library.name} uses AVX-512 registers {zmm} times"
        assert not re.search(r"\btile(loadd|stored|zero)|\btdpb", disassembly), (
            f"{library.name} holds AMX tile instructions"
        )


def test_only_the_libraries_we_load_are_installed():
    """No multimodal (mtmd) library: setup builds only what the service uses."""
    names = {path.name for path in LIB_DIR.iterdir()}
    assert any(name.startswith("libllama") for name in names), names
    assert not any(name.startswith("libmtmd") for name in names), names
