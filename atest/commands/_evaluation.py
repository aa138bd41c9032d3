"""Options and rendering shared by the evaluation commands (bon, fidelity, attack-eval, filter)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from atest.commands._common import PlainProgress, console
from atest.core.errors import InputError

if TYPE_CHECKING:
    from atest.core.sandbox import Limits

# The largest values the limit flags take (documented in docs/sandbox.md): beyond them the
# kernel's and Python's timers overflow (an hour of CPU is already far past any test program).
MAX_CPU_SECONDS = 3600.0
MAX_MEMORY_MB = 1_048_576  # 1 TiB
MAX_WORKERS = 256

TasksOpt = Annotated[Path, typer.Option("--tasks", help="Task file (.jsonl, .jsonl.gz or .parquet).")]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers", min=1, max=MAX_WORKERS, help="Sandbox worker processes (default: one per core)."
    ),
]
CpuOpt = Annotated[
    float | None,
    typer.Option(
        "--cpu-seconds",
        min=0.01,
        max=MAX_CPU_SECONDS,
        help="CPU-time limit per execution (default: the sandbox's; at most 3600).",
    ),
]
MemoryOpt = Annotated[
    int | None,
    typer.Option(
        "--memory-mb",
        min=16,
        max=MAX_MEMORY_MB,
        help="Memory limit per execution in MB (default: the sandbox's; at most 1048576).",
    ),
]
CacheOpt = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        help="Keep execution results here, so bon, fidelity and filter reuse each other's runs.",
    ),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the bootstrap over tasks.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
ModelsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--solution-model", help="Solution model(s) whose candidates to use (repeatable; default: all)."
    ),
]
PaperOpt = Annotated[
    str | None,
    typer.Option(
        "--paper",
        help="Reproduce a paper's own evaluation rules exactly (utrl: its parser, judge, "
        "last-index ties, duplicate tests kept); see docs/rewards.md.",
    ),
]
DropInvalidOpt = Annotated[
    bool,
    typer.Option("--drop-invalid", help="Ignore generated tests whose output the gold does not produce."),
]


def limits_from_options(cpu_seconds: float | None, memory_mb: int | None) -> Limits:
    from atest.core.sandbox import Limits

    default = Limits()
    return Limits(
        cpu_seconds=cpu_seconds if cpu_seconds is not None else default.cpu_seconds,
        memory_mb=memory_mb if memory_mb is not None else default.memory_mb,
        output_bytes=default.output_bytes,
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


@contextlib.contextmanager
def progress_bar(description: str, quiet: bool) -> Iterator:
    """A rich bar on a terminal, plain lines now and then in a log; fed by the core's
    `progress(done, total)` callback. `quiet` (--json) drops the bar, never the log lines."""
    if not console.is_terminal:
        yield PlainProgress(description, "runs")
        return
    if quiet:
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def print_warnings(warnings: list[str]) -> None:
    for line in warnings:
        console.print(f"[yellow]warning:[/] {line}", highlight=False, soft_wrap=True)


def fmt_ci(ci: list[float] | None) -> str:
    return "n/a" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"
