"""What the CPU can do natively: one place for the flag checks that choose float32 over bf16,
and the one check for a GPU beside it.

bf16 pays only with native instructions (AVX512-BF16 or AMX); elsewhere torch and vLLM emulate it,
and emulated bf16 is slower than float32 (docs/generation.md: vLLM's CPU build generated 10.4
tokens/s in bf16 and 53 in float32 on the 2-core AVX2 machine).
"""

from __future__ import annotations

from pathlib import Path

BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU feature flags (Linux /proc/cpuinfo; empty elsewhere)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return set()
    for line in cpuinfo.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def native_bf16(flags: set[str] | None = None) -> list[str]:
    """The native bf16 instruction sets of this CPU (empty: bf16 would be emulated)."""
    return sorted(set(BF16_FLAGS) & (cpu_flags() if flags is None else flags))


def has_gpu() -> bool:
    """A CUDA device torch can use (settings made for a CPU-only machine are skipped with one)."""
    import torch

    return torch.cuda.is_available()
