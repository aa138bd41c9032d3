"""`atest attack-eval`: ATGEN's IO accuracy and attack rates for tests written against buggy code."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from atest.commands import _options as opt
from atest.commands._common import check_outputs, console, emit_json, handle_errors
from atest.commands._evaluation import executor_with_progress, fmt_ci, limits_from_options, print_warnings
from atest.core.results import AttackEvalResult


def register(app: typer.Typer) -> None:
    @app.command(
        "attack-eval", help="ATGEN metrics: IO accuracy, attack rate, input attack rate, by difficulty."
    )
    @handle_errors
    def _cmd(
        tasks: opt.TasksOpt,
        tests: Annotated[
            Path,
            typer.Option(
                "--tests", help="Tests file from `atest gen-tests --prompt atgen` (one row per bug)."
            ),
        ],
        out: Annotated[
            Path | None,
            typer.Option(
                "--out", help="Write one JSON line per generated test with the flags the rates count."
            ),
        ] = None,
        workers: opt.WorkersOpt = None,
        cache_dir: opt.CacheOpt = None,
        cpu_seconds: opt.CpuOpt = None,
        memory_mb: opt.MemoryOpt = None,
        seed: opt.SeedOpt = 0,
        force: opt.ForceOpt = False,
        json_out: opt.JsonOpt = False,
    ) -> None:
        from atest.core.metrics.attack import RATES
        from atest.core.metrics.evaluate import evaluate_attack

        check_outputs(force=force, cache_dir=cache_dir, out=out)
        limits = limits_from_options(cpu_seconds, memory_mb)
        with executor_with_progress(workers, cache_dir, "running gold and buggy code", json_out) as (
            executor,
            progress,
        ):
            run = evaluate_attack(tasks, tests, executor, limits=limits, seed=seed, progress=progress)
        print_warnings(run.warnings)
        if out:
            from dataclasses import asdict

            from atest.core.io import write_jsonl_atomic

            write_jsonl_atomic(out, ({**asdict(u), "attack": u.attack} for u in run.units))
        summary = AttackEvalResult.from_run(run)
        if json_out:
            emit_json(summary)
            return
        table = Table(title=f"ATGEN metrics over {summary.n_units} generated tests, {summary.n_tasks} tasks")
        table.add_column("split")
        for header in ("IO acc.", "attack", "input attack", "invalid input", "parse failure"):
            table.add_column(header, justify="right")
        splits = [("all", summary), *summary.by_difficulty.items()]
        for name, block in splits:
            table.add_row(f"{name} ({block.n_units})", *(f"{getattr(block, r):.4f}" for r in RATES))
        console.print(table)
        for rate in ("io_accuracy", "attack_rate"):
            console.print(f"{rate} 95% CI {fmt_ci(getattr(summary, f'{rate}_ci95'))}", highlight=False)
