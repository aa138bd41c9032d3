"""`atest fidelity`: Spearman agreement of generated-test and gold-test candidate rankings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from atest.commands._common import (
    ForceOpt,
    check_outputs,
    console,
    emit_json,
    handle_errors,
    sandbox_settings,
)
from atest.commands._evaluation import (
    CacheOpt,
    CpuOpt,
    DropInvalidOpt,
    JsonOpt,
    MemoryOpt,
    ModelsOpt,
    PaperOpt,
    SeedOpt,
    TasksOpt,
    WorkersOpt,
    fmt_ci,
    limits_from_options,
    print_warnings,
    progress_bar,
)
from atest.commands._paper import check_paper, run_paper_fidelity
from atest.core.io import write_jsonl_atomic


def register(app: typer.Typer) -> None:
    @app.command(
        "fidelity", help="Unit-test fidelity: Spearman between candidate scores on generated and gold tests."
    )
    @handle_errors
    def _cmd(
        tasks: TasksOpt,
        tests: Annotated[str, typer.Option("--tests", help="Tests file from `atest gen-tests`.")],
        solution_model: ModelsOpt = None,
        n: Annotated[
            int | None, typer.Option("--n", min=1, help="Use the first N candidates per model.")
        ] = None,
        drop_invalid: DropInvalidOpt = False,
        paper: PaperOpt = None,
        out: Annotated[
            Path | None, typer.Option("--out", help="Write per-task correlations as JSON lines.")
        ] = None,
        workers: WorkersOpt = None,
        cache_dir: CacheOpt = None,
        cpu_seconds: CpuOpt = None,
        memory_mb: MemoryOpt = None,
        seed: SeedOpt = 0,
        force: ForceOpt = False,
        json_out: JsonOpt = False,
    ) -> None:
        from atest.core.metrics.evaluate import evaluate_fidelity
        from atest.core.metrics.inputs import check_n, load_eval_inputs
        from atest.core.sandbox import get_executor

        check_outputs(force=force, cache_dir=cache_dir, out=out)
        if paper is not None:
            check_paper(paper, drop_invalid=drop_invalid)
            run_paper_fidelity(
                tasks, tests, solution_model, n, out, workers, cache_dir, cpu_seconds, memory_mb, json_out
            )
            return
        inputs = load_eval_inputs(tasks, tests, solution_model, need_gold_tests=True)
        check_n(inputs, n, [])
        print_warnings(inputs.warnings)
        limits = limits_from_options(cpu_seconds, memory_mb)
        with (
            get_executor(workers=workers, settings=sandbox_settings(), cache_dir=cache_dir) as executor,
            progress_bar("running candidates", json_out) as progress,
        ):
            run = evaluate_fidelity(
                inputs, executor, n=n, drop_invalid=drop_invalid, limits=limits, seed=seed, progress=progress
            )
        r = run.result
        if out:
            write_jsonl_atomic(out, ({"task_id": t, "spearman": rho} for t, rho in r.per_task.items()))
        summary = {
            "fidelity": r.fidelity,
            "n_tasks": r.n_tasks,
            "n_constant": r.n_constant,
            "fidelity_excluding_constant": r.fidelity_excluding_constant,
            "ci95": r.ci95,
            "ci95_excluding_constant": r.ci95_excluding_constant,
            "solution_models": inputs.models,
            "tests": tests,
            "n_invalid_dropped": sum(run.outcome.n_invalid.values()),
            "n_malformed_tests": inputs.n_malformed_tests,
            "n_duplicate_tests": inputs.n_duplicate_tests,
            "n_executions": run.outcome.n_executions,
            "skipped": inputs.skipped,
            "warnings": inputs.warnings,
        }
        if json_out:
            emit_json(summary)
            return
        excl = r.fidelity_excluding_constant
        console.print(
            f"fidelity {r.fidelity:.4f} (95% CI {fmt_ci(r.ci95)}) over {r.n_tasks} tasks; "
            f"{r.n_constant} constant (counted as 0); excluding them: "
            f"{'n/a' if excl is None else f'{excl:.4f}'} (95% CI {fmt_ci(r.ci95_excluding_constant)})",
            highlight=False,
        )
