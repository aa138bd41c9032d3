"""`atest fidelity`: Spearman agreement of generated-test and gold-test candidate rankings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from atest.commands import _options as opt
from atest.commands._common import check_outputs, console, emit_json, handle_errors
from atest.commands._evaluation import executor_with_progress, fmt_ci, limits_from_options, print_warnings
from atest.commands._paper import PaperRun, check_paper, run_paper_fidelity
from atest.core.io import write_jsonl_atomic
from atest.core.results import FidelityResult


def register(app: typer.Typer) -> None:
    @app.command(
        "fidelity", help="Unit-test fidelity: Spearman between candidate scores on generated and gold tests."
    )
    @handle_errors
    def _cmd(
        tasks: opt.TasksOpt,
        tests: Annotated[str, typer.Option("--tests", help="Tests file from `atest gen-tests`.")],
        solution_model: opt.ModelsOpt = None,
        n: Annotated[
            int | None, typer.Option("--n", min=1, help="Use the first N candidates per model.")
        ] = None,
        drop_invalid: opt.DropInvalidOpt = False,
        paper: opt.PaperOpt = None,
        out: Annotated[
            Path | None, typer.Option("--out", help="Write per-task correlations as JSON lines.")
        ] = None,
        workers: opt.WorkersOpt = None,
        cache_dir: opt.CacheOpt = None,
        cpu_seconds: opt.CpuOpt = None,
        memory_mb: opt.MemoryOpt = None,
        seed: opt.SeedOpt = 0,
        force: opt.ForceOpt = False,
        json_out: opt.JsonOpt = False,
    ) -> None:
        from atest.core.metrics.evaluate import evaluate_fidelity
        from atest.core.metrics.inputs import check_n, load_eval_inputs

        check_outputs(force=force, cache_dir=cache_dir, out=out)
        if paper is not None:
            check_paper(paper, drop_invalid=drop_invalid)
            run_paper_fidelity(
                PaperRun(
                    paper,
                    tasks,
                    tests,
                    solution_model=solution_model,
                    n=n,
                    out=out,
                    workers=workers,
                    cache_dir=cache_dir,
                    cpu_seconds=cpu_seconds,
                    memory_mb=memory_mb,
                    json_out=json_out,
                )
            )
            return
        inputs = load_eval_inputs(tasks, tests, solution_model, need_gold_tests=True)
        check_n(inputs, n, [])
        print_warnings(inputs.warnings)
        limits = limits_from_options(cpu_seconds, memory_mb)
        with executor_with_progress(workers, cache_dir, "running candidates", json_out) as (
            executor,
            progress,
        ):
            run = evaluate_fidelity(
                inputs, executor, n=n, drop_invalid=drop_invalid, limits=limits, seed=seed, progress=progress
            )
        r = run.result
        if out:
            write_jsonl_atomic(out, ({"task_id": t, "spearman": rho} for t, rho in r.per_task.items()))
        summary = FidelityResult.from_run(run, inputs, tests)
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
