"""Option parsing and rendering shared by the evaluation commands (bon, fidelity, attack-eval, filter)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atest.commands._common import console, progress_bar, sandbox_settings
from atest.core.errors import InputError

if TYPE_CHECKING:
    from atest.core.sandbox import Executor, Limits


@contextlib.contextmanager
def executor_with_progress(
    workers: int | None, cache_dir: Path | None, label: str, json_out: bool
) -> Iterator[tuple[Executor, Any]]:
    """The sandbox the root options chose (with --workers and --cache-dir) and a progress bar."""
    from atest.core.sandbox import get_executor

    with (
        get_executor(workers=workers, settings=sandbox_settings(), cache_dir=cache_dir) as executor,
        progress_bar(label, json_out) as progress,
    ):
        yield executor, progress


def limits_from_options(
    cpu_seconds: float | None, memory_mb: int | None, default: Limits | None = None
) -> Limits:
    """The limits the options ask for, the rest from `default` (atest's, or a rules object's:
    `--paper utrl` runs with the authors' 10 s unless `--cpu-seconds` is given)."""
    from atest.core.sandbox import Limits

    default = default or Limits()
    if cpu_seconds is None and memory_mb is None:
        return default
    return Limits(
        cpu_seconds=cpu_seconds if cpu_seconds is not None else default.cpu_seconds,
        memory_mb=memory_mb if memory_mb is not None else default.memory_mb,
        output_bytes=default.output_bytes,
        wall_seconds=default.wall_seconds if cpu_seconds is None else None,
    )


def parse_ns(text: str | None) -> list[int]:
    if not text:
        return []
    try:
        ns = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError as exc:
        raise InputError(f"--ns {text!r}: expected comma-separated integers such as 1,2,4,8") from exc
    if not ns or ns[0] < 1:
        raise InputError(f"--ns {text!r}: every N must be at least 1")
    return ns


def print_warnings(warnings: list[str]) -> None:
    for line in warnings:
        console.print(f"[yellow]warning:[/] {line}", highlight=False, soft_wrap=True)


def fmt_ci(ci: list[float] | None) -> str:
    return "n/a" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"
