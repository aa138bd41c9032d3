"""`atest filter`: pick one candidate solution per task by the tests it passes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from atest.commands._common import console, emit_json, handle_errors
from atest.commands._evaluation import (
    CacheOpt,
    CpuOpt,
    JsonOpt,
    MemoryOpt,
    ModelsOpt,
    TasksOpt,
    WorkersOpt,
    limits_from_options,
    print_warnings,
    progress_bar,
)
from atest.core.errors import EXIT_THRESHOLD, InputError
from atest.core.io import write_jsonl_atomic


def register(app: typer.Typer) -> None:
    @app.command("filter", help="Select the best candidate per task by generated tests; gate on --min-pass.")
    @handle_errors
    def _cmd(
        tasks: TasksOpt,
        out: Annotated[
            Path, typer.Option("--out", help="Where to write the selected solution per task (JSON lines).")
        ],
        tests: Annotated[str, typer.Option("--tests", help="Tests file from `atest gen-tests`.")],
        solution_model: ModelsOpt = None,
        min_pass: Annotated[
            float | None,
            typer.Option(
                "--min-pass",
                min=0.0,
                max=1.0,
                help="Exit 1 if some task's best candidate passes less than this fraction.",
            ),
        ] = None,
        workers: WorkersOpt = None,
        cache_dir: CacheOpt = None,
        cpu_seconds: CpuOpt = None,
        memory_mb: MemoryOpt = None,
        json_out: JsonOpt = False,
    ) -> None:
        from atest.core.metrics.inputs import load_eval_inputs
        from atest.core.sandbox import get_executor
        from atest.core.selection import below_threshold, select_solutions

        if out.exists() and out.is_dir():
            raise InputError(f"--out {out}: is a directory, expected a .jsonl file path")
        inputs = load_eval_inputs(tasks, tests, solution_model, need_gold_tests=False, every_model=False)
        print_warnings(inputs.warnings)
        limits = limits_from_options(cpu_seconds, memory_mb)
        with (
            get_executor(workers=workers, cache_dir=cache_dir) as executor,
            progress_bar("running candidates", json_out) as progress,
        ):
            selections = select_solutions(
                executor, inputs.tasks, inputs.tests, inputs.models, limits=limits, progress=progress
            )
        write_jsonl_atomic(out, (s.to_dict() for s in selections))
        failing = below_threshold(selections, min_pass) if min_pass is not None else []
        summary = {
            "n_tasks": len(selections),
            "out": str(out),
            "mean_score": sum(s.score for s in selections) / len(selections),
            "n_decided_by_tie": sum(1 for s in selections if s.n_tied > 1),
            "n_tasks_without_tests": sum(1 for s in selections if s.n_tests == 0),
            "min_pass": min_pass,
            "n_below_min_pass": len(failing),
            "below_min_pass": [s.task_id for s in failing],
            "solution_models": inputs.models,
            "skipped": inputs.skipped,
            "warnings": inputs.warnings,
        }
        if json_out:
            emit_json(summary)
        else:
            console.print(
                f"selected one solution for each of {summary['n_tasks']} tasks -> {out} "
                f"(mean fraction of tests passed {summary['mean_score']:.3f}; "
                f"{summary['n_decided_by_tie']} picks among tied candidates)",
                highlight=False,
            )
            if min_pass is not None:
                console.print(f"{len(failing)} task(s) below --min-pass {min_pass}", highlight=False)
        if failing:
            raise typer.Exit(EXIT_THRESHOLD)
