#!/usr/bin/env bash
# Installs llama-cpp-python into a venv from a wheel built once per set of build flags:
#   scripts/install-llama-cpp.sh PYTHON      install into the venv of that interpreter
#   scripts/install-llama-cpp.sh --key       print the build's identity (version, flags, compiler)
#   scripts/install-llama-cpp.sh --wheel     build if needed and print the wheel's path
# LLAMA_CPP_EXTRA_CMAKE_ARGS adds flags (bench/llama_cpp_builds.py builds variants with it);
# they are part of the wheel's identity like the rest.
#
# Never for the build host's CPU: GGML_NATIVE=OFF and a fixed x86-64 baseline (AVX2, FMA,
# F16C, BMI2) run on every AMD and Intel CPU we use; no AVX-512 or AMX code is compiled. A
# native build crashed on a Sapphire Rapids host in ggml's AMX path. GGML_LLAMAFILE=OFF: the
# llamafile sgemm kernels' F16 attention matmul is less accurate than ggml's own and flipped
# the model's answer there and on AMD EPYC, for no speed gain in generation (see
# docs/benchmarks.md, "llama.cpp build"; tests/vllm/test_llama_cpp_reference.py checks the
# answers against transformers on every run). Only the libraries the service loads are built:
# no server, tools, examples, tests, multimodal (mtmd) or "common" library: about 2 min on
# 2 cores instead of 5.
#
# The wheel lives in our own cache keyed by the flags, never in pip's (which keys on the
# source only, so an old native build there would be reused).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

LLAMA_CPP_VERSION=0.3.36
CMAKE_ARGS_PORTABLE="-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=OFF -DGGML_CPU_ALL_VARIANTS=OFF \
-DGGML_SSE42=ON -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
-DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF \
-DGGML_AVX_VNNI=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF \
-DGGML_LLAMAFILE=OFF -DGGML_OPENMP=ON -DGGML_BLAS=OFF -DGGML_CCACHE=OFF \
-DLLAMA_CURL=OFF -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF \
-DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF"
# Later flags win in CMake, so extras override the baseline.
CMAKE_ARGS_ALL="$CMAKE_ARGS_PORTABLE${LLAMA_CPP_EXTRA_CMAKE_ARGS:+ $LLAMA_CPP_EXTRA_CMAKE_ARGS}"
# Leaves out the "common" library llama-cpp-python forces on (see the file).
ONLY_LIBRARIES=scripts/assets/llama-cpp-only-libraries.cmake

# The wheel is tagged py3-none (one for every Python); what it holds depends on the flags,
# the included CMake file and the compiler (not on where this checkout is).
build_key() {
  printf '%s\n%s\n%s\n%s\n' "$LLAMA_CPP_VERSION" "$CMAKE_ARGS_ALL" "$(cat "$ONLY_LIBRARIES")" \
    "$(gcc -dumpfullversion 2>&1)" | sha256sum | cut -c1-16
}

wheel_dir="${XDG_CACHE_HOME:-$HOME/.cache}/paneas/wheels/llama-cpp-python-$LLAMA_CPP_VERSION-$(build_key)"

# $1: a Python with pip that builds it (pip's build isolation brings scikit-build-core, cmake
# and ninja from PyPI).
built_wheel() {
  local builder=$1 wheel
  wheel=$(ls "$wheel_dir"/llama_cpp_python-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$wheel" ]; then
    rm -rf "$wheel_dir.part"
    mkdir -p "$wheel_dir.part"
    CMAKE_ARGS="$CMAKE_ARGS_ALL -DCMAKE_PROJECT_llama.cpp_INCLUDE=$PWD/$ONLY_LIBRARIES" \
      CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
      run_step "compiling llama.cpp $LLAMA_CPP_VERSION for any x86-64 CPU with AVX2" \
      "about 2 min on 2 cores, once per machine" "$wheel_dir.part/build.log" \
      "$builder" -m pip wheel --no-cache-dir --no-deps --disable-pip-version-check -v \
      -w "$wheel_dir.part" "llama-cpp-python==$LLAMA_CPP_VERSION"
    rm -rf "$wheel_dir"
    mv "$wheel_dir.part" "$wheel_dir"
    wheel=$(ls "$wheel_dir"/llama_cpp_python-*.whl | head -n1)
  fi
  echo "$wheel"
}

case "${1:-}" in
  --key) build_key ;;
  --wheel) built_wheel .venv/bin/python ;;
  "" | -*) echo "usage: $0 PYTHON | --key | --wheel" >&2; exit 2 ;;
  *)
    wheel=$(built_wheel "$1")
    log "llama.cpp: $wheel"
    "$1" -m pip install -q --disable-pip-version-check --no-deps --force-reinstall "$wheel"
    ;;
esac
