"""What the CPU can do natively: one place for the flag checks that choose float32 over bf16,
the one check for a GPU beside it, and the one policy for how many torch threads a process takes.

bf16 pays only with native instructions (AVX512-BF16 or AMX); elsewhere torch and vLLM emulate it,
and emulated bf16 is slower than float32 (docs/generation.md: vLLM's CPU build generated 10.4
tokens/s in bf16 and 53 in float32 on the 2-core AVX2 machine).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
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


def owned_cores() -> int:
    """The cores this process may run on (its affinity, e.g. a container's or taskset's share)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class ThreadShare:
    """Torch threads for one process, and why (said in a command's summary)."""

    threads: int
    reason: str


def thread_share(processes: int = 1, *, cores: int | None = None, load: float | None = None) -> ThreadShare:
    """Torch threads for each of `processes` processes on this node: the idle cores it owns,
    shared out. Threads past the idle cores spin against other jobs: on the shared 2-core machine
    two threads made the tiny model 27 times slower than one in training (docs/training.md), and
    `gen-tests` with the tiny model 100 times slower beside a training run (15.8 against 1,609
    tokens/s). One unit of the load average is taken as the caller's own (its loading, an earlier
    step of the same job)."""
    owned = cores or owned_cores()
    busy = os.getloadavg()[0] if load is None else load
    idle = max(1, min(owned, round(owned - max(0.0, busy - 1.0))))
    return ThreadShare(
        max(1, idle // processes),
        f"{owned} core(s) owned, {idle} idle (load {busy:.1f}), {processes} process(es) on this node",
    )
