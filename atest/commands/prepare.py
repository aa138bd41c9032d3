"""`atest prepare`: load a dataset, normalise, de-duplicate, optionally verify and add mutants, write a task file."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from atest.commands._common import (
    PlainProgress,
    check_outputs,
    console,
    emit_json,
    handle_errors,
    sandbox_settings,
)
from atest.commands._options import MAX_CPU_SECONDS, MAX_WORKERS, ForceOpt, JsonOpt
from atest.core.errors import InputError
from atest.core.loaders import SOURCES
from atest.core.prepare import MUTANT_POOLS, PrepareOptions, PrepareSummary, prepare_source
from atest.core.results import PrepareResult
from atest.core.tasks import write_tasks


def register(app: typer.Typer) -> None:
    @app.command(
        "prepare",
        help="Convert a dataset (TACO, APPS, LiveCodeBench, CodeContests, LeetCode, UTRL, ATGEN, "
        "our own JSONL/parquet, or the bundled sample) into a verified task file.",
    )
    @handle_errors
    def _cmd(
        source: Annotated[str, typer.Option("--source", help=f"Dataset kind: {', '.join(SOURCES)}.")],
        path: Annotated[
            str | None,
            typer.Option(
                "--path", help="Local file or folder, or a hub id owner/name (not needed for sample)."
            ),
        ] = None,
        split: Annotated[
            str | None, typer.Option("--split", help="Dataset split (hub ids and folders; default train).")
        ] = None,
        out: Annotated[
            Path | None,
            typer.Option(
                "--out", help="Task file to write (.jsonl, .jsonl.gz or .parquet); omit for a dry run."
            ),
        ] = None,
        verify: Annotated[
            bool, typer.Option("--verify", help="Run every gold solution on its gold tests in the sandbox.")
        ] = False,
        limit: Annotated[
            int | None, typer.Option("--limit", min=1, help="Read only the first N records.")
        ] = None,
        exclude: Annotated[
            list[Path] | None,
            typer.Option(
                "--exclude", help="Drop tasks whose statement appears in this task file (repeatable)."
            ),
        ] = None,
        strict: Annotated[
            bool, typer.Option("--strict", help="Fail on the first bad record instead of skipping it.")
        ] = False,
        workers: Annotated[
            int | None,
            typer.Option("--workers", min=1, max=MAX_WORKERS, help="Sandbox workers (default: CPU cores)."),
        ] = None,
        max_gold: Annotated[
            int | None, typer.Option("--max-gold", min=1, help="Keep at most N gold solutions per task.")
        ] = None,
        max_tests: Annotated[
            int | None, typer.Option("--max-tests", min=1, help="Keep at most N gold tests per task.")
        ] = None,
        cpu_seconds: Annotated[
            float,
            typer.Option(
                "--cpu-seconds",
                min=0.1,
                max=MAX_CPU_SECONDS,
                help="CPU-time limit per gold run when verifying (at most 3600).",
            ),
        ] = 4.0,
        mutants: Annotated[
            int,
            typer.Option(
                "--mutants",
                min=0,
                help="Mutate each gold solution and add K mutants as buggy code and/or a "
                "'mutants' candidate pool (0: none).",
            ),
        ] = 0,
        mutant_seed: Annotated[int, typer.Option("--mutant-seed", help="Seed choosing the mutants.")] = 0,
        cache_dir: Annotated[
            Path | None,
            typer.Option(
                "--cache-dir",
                help="Keep execution results here, so later bon, fidelity and mutation-score runs reuse them.",
            ),
        ] = None,
        mutants_into: Annotated[
            str | None,
            typer.Option(
                "--mutants-into",
                help=f"With --mutants: where mutants go: {', '.join(MUTANT_POOLS)} (buggy_code, "
                "candidates['mutants'], both; default both).",
            ),
        ] = None,
        force: ForceOpt = False,
        json_out: JsonOpt = False,
    ) -> None:
        check_outputs(force=force, cache_dir=cache_dir, out=out)
        if source == "sample" and path is not None:
            raise InputError("--source sample reads the bundled tasks, not --path", "drop --path")
        if mutants_into is not None and not mutants:
            raise InputError("--mutants-into only applies with --mutants K", "add --mutants 8, or drop it")
        local = Path(path) if path is not None else None
        if local is not None and local.exists() and not (local.is_file() or local.is_dir()):
            raise InputError(
                f"--path {path}: not a regular file or folder", "give a dataset file, folder or hub id"
            )
        for excluded in exclude or []:
            if not excluded.is_file():
                raise InputError(f"--exclude {excluded}: no such task file", "check the path")
        options = PrepareOptions(
            verify=verify,
            exclude=exclude or [],
            strict=strict,
            workers=workers,
            max_gold=max_gold,
            max_tests=max_tests,
            cpu_seconds=cpu_seconds,
            mutants=mutants,
            mutant_seed=mutant_seed,
            mutants_into=mutants_into or "both",
            cache_dir=cache_dir,
            sandbox=sandbox_settings(),
        )
        with _status("preparing tasks") as progress:
            tasks, summary = prepare_source(source, path, split, limit, options, progress)
        if not tasks:
            reasons = ", ".join(f"{k}={v}" for k, v in sorted(summary.dropped_by_reason.items()))
            first = f"; first: {summary.problems[0]}" if summary.problems else ""
            raise InputError(f"no task left after prepare ({reasons}){first}")
        if out is not None:
            write_tasks(out, tasks)
        _print_summary(summary, source, out)
        if json_out:
            emit_json(PrepareResult.from_summary(summary, source, path, out))


@contextlib.contextmanager
def _status(label: str) -> Iterator[Callable[[str, int, int], None]]:
    """A spinner on a terminal; plain lines now and then in a log (per phase)."""
    if not console.is_terminal:
        lines: dict[str, PlainProgress] = {}

        def log(phase: str, done: int, total: int) -> None:
            lines.setdefault(phase, PlainProgress(f"prepare: {phase}", "runs"))(done, total)

        yield log
        return
    with console.status(label) as status:

        def update(phase: str, done: int, total: int) -> None:
            status.update(f"{phase}: {done}/{total} runs")

        yield update


def _print_summary(summary: PrepareSummary, source: str, out: Path | None) -> None:
    for line in summary.problems[:10]:
        console.print(f"[yellow]skipped[/] {line}", highlight=False, soft_wrap=True)
    if len(summary.problems) > 10:
        console.print(f"[yellow]... and {len(summary.problems) - 10} more[/]")
    table = Table(title=f"atest prepare --source {source}", show_header=True)
    table.add_column("", style="bold")
    table.add_column("count", justify="right")
    table.add_row("read", str(summary.n_in))
    for reason, n in sorted(summary.dropped_by_reason.items()):
        table.add_row(f"dropped: {reason}", str(n))
    table.add_row("kept", str(summary.n_out))
    if summary.verified:
        table.add_row("gold solutions verified", f"{summary.n_gold_verified}/{summary.n_gold_checked}")
    if summary.mutants:
        m = summary.mutants
        table.add_row("mutants generated (on the gold tests:)", str(m["n_mutants"]))
        for outcome, n in m["outcomes"].items():
            table.add_row(f"  {outcome.replace('_', ' ')}", str(n))
        table.add_row("tasks with mutant buggy code", str(m["n_tasks_with_buggy"]))
        table.add_row(
            "  buggy codes (passing public examples)", f"{m['n_buggy']} ({m['n_buggy_passing_public']})"
        )
        table.add_row("tasks with a 'mutants' candidate pool", str(m["n_tasks_with_candidates"]))
        for reason, n in m["skipped"].items():
            table.add_row(f"  no mutants: {reason}", str(n))
    console.print(table)
    console.print(f"wrote {summary.n_out} tasks to {out}" if out else "dry run: no --out, nothing written")
