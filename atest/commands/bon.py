"""`atest bon`: best-of-N accuracy of candidate selection by generated tests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from atest.commands import _options as opt
from atest.commands._common import check_outputs, console, emit_json, handle_errors
from atest.commands._evaluation import (
    executor_with_progress,
    fmt_ci,
    limits_from_options,
    parse_ns,
    print_warnings,
)
from atest.commands._paper import PaperRun, check_paper, run_paper_bon
from atest.core.errors import InputError
from atest.core.io import write_jsonl_atomic
from atest.core.metrics.testsfile import GROUND_TRUTH
from atest.core.results import BonResult


def register(app: typer.Typer) -> None:
    @app.command(
        "bon",
        help="Best-of-N accuracy: select each task's candidate by generated tests, judge it on gold tests.",
    )
    @handle_errors
    def _cmd(
        tasks: opt.TasksOpt,
        tests: Annotated[
            str, typer.Option("--tests", help="Tests file from `atest gen-tests`, or 'ground_truth'.")
        ],
        solution_model: opt.ModelsOpt = None,
        n: Annotated[
            int | None, typer.Option("--n", min=1, help="Use the first N candidates (default: all).")
        ] = None,
        ns: Annotated[
            str | None, typer.Option("--ns", help="Also report accuracy at these N, e.g. 1,2,4,8.")
        ] = None,
        skip_small_pools: Annotated[
            bool,
            typer.Option(
                "--skip-small-pools",
                help="Leave out tasks with fewer candidates than the largest N (counted in skipped) "
                "instead of refusing.",
            ),
        ] = False,
        tie: Annotated[
            str | None,
            typer.Option(
                "--tie",
                help="Tie rule: expected (exact mean over ties; default), first (CURE), last (UTRL).",
            ),
        ] = None,
        paper: opt.PaperOpt = None,
        drop_invalid: opt.DropInvalidOpt = False,
        plot: Annotated[
            Path | None, typer.Option("--plot", help="Save the accuracy-vs-N curve as a PNG.")
        ] = None,
        out: Annotated[
            Path | None, typer.Option("--out", help="Write per (task, model) details as JSON lines.")
        ] = None,
        workers: opt.WorkersOpt = None,
        cache_dir: opt.CacheOpt = None,
        cpu_seconds: opt.CpuOpt = None,
        memory_mb: opt.MemoryOpt = None,
        seed: opt.SeedOpt = 0,
        force: opt.ForceOpt = False,
        json_out: opt.JsonOpt = False,
    ) -> None:
        from atest.core.metrics.bon import TIE_RULES
        from atest.core.metrics.evaluate import evaluate_bon
        from atest.core.metrics.inputs import check_n, load_eval_inputs

        check_outputs(force=force, cache_dir=cache_dir, out=out, plot=plot)
        if paper is not None:
            check_paper(paper, tie=tie, drop_invalid=drop_invalid, ns=ns, plot=plot)
            run_paper_bon(
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
        tie = tie or "expected"
        if tie not in TIE_RULES:
            raise InputError(f"--tie {tie!r}: expected one of {', '.join(TIE_RULES)}")
        curve_ns = parse_ns(ns)
        if n is not None and curve_ns and curve_ns[-1] > n:
            raise InputError(
                f"--ns {ns} asks for N={curve_ns[-1]} but --n {n} keeps only {n} candidates",
                f"drop --n, or keep every --ns value at most {n}",
            )
        inputs = load_eval_inputs(tasks, tests, solution_model, need_gold_tests=True)
        if plot and not curve_ns:
            fewest = min(len(t.candidates[m]) for t in inputs.tasks for m in inputs.models)
            curve_ns = sorted({*(2**k for k in range(fewest.bit_length()) if 2**k <= fewest), fewest})
        check_n(inputs, n, curve_ns, skip_small=skip_small_pools)
        if drop_invalid and tests == GROUND_TRUTH:
            inputs.warnings.append("--drop-invalid has no effect with ground_truth tests")
        print_warnings(inputs.warnings)
        limits = limits_from_options(cpu_seconds, memory_mb)
        with executor_with_progress(workers, cache_dir, "running candidates", json_out) as (
            executor,
            progress,
        ):
            run = evaluate_bon(
                inputs, executor, n=n, ns=curve_ns, rule=tie, drop_invalid=drop_invalid,  # type: ignore[arg-type]
                limits=limits, seed=seed, progress=progress,
            )  # fmt: skip
        if out:
            write_jsonl_atomic(out, run.details)
        if plot:
            from atest.core.metrics.plots import plot_bon_curve

            title = f"best-of-N, tests: {Path(tests).name if tests != GROUND_TRUTH else GROUND_TRUTH}"
            plot_bon_curve(plot, run.result.curve, run.result.oracle_curve, title)
        summary = BonResult.from_run(run, inputs)
        if json_out:
            emit_json(summary)
        else:
            _render(summary)


def _render(s: BonResult) -> None:
    table = Table(title=f"best-of-N ({s.tests}, tie rule {s.tie}, N={s.n or 'all'})")
    table.add_column("solution model")
    table.add_column("accuracy", justify="right")
    table.add_column("ground-truth bound", justify="right")
    for model, acc in s.per_model.items():
        table.add_row(model, f"{acc:.4f}", f"{s.per_model_oracle[model]:.4f}")
    table.add_row("all", f"{s.accuracy:.4f}", f"{s.oracle_accuracy:.4f}", style="bold")
    console.print(table)
    console.print(f"{s.n_tasks} tasks, 95% CI {fmt_ci(s.ci95)}, {s.n_executions} executions")
    for model, pts in s.curve.items():
        console.print(f"{model}: " + "  ".join(f"N={k}: {v:.4f}" for k, v in pts.items()), highlight=False)
