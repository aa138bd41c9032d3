"""`atest bon`: best-of-N accuracy of candidate selection by generated tests."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

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
    parse_ns,
    print_warnings,
    progress_bar,
)
from atest.commands._paper import check_paper, run_paper_bon
from atest.core.errors import InputError
from atest.core.io import write_jsonl_atomic
from atest.core.metrics.testsfile import GROUND_TRUTH

if TYPE_CHECKING:
    from atest.core.metrics.evaluate import BonRun
    from atest.core.metrics.inputs import EvalInputs


def register(app: typer.Typer) -> None:
    @app.command(
        "bon",
        help="Best-of-N accuracy: select each task's candidate by generated tests, judge it on gold tests.",
    )
    @handle_errors
    def _cmd(
        tasks: TasksOpt,
        tests: Annotated[
            str, typer.Option("--tests", help="Tests file from `atest gen-tests`, or 'ground_truth'.")
        ],
        solution_model: ModelsOpt = None,
        n: Annotated[
            int | None, typer.Option("--n", min=1, help="Use the first N candidates (default: all).")
        ] = None,
        ns: Annotated[
            str | None, typer.Option("--ns", help="Also report accuracy at these N, e.g. 1,2,4,8.")
        ] = None,
        tie: Annotated[
            str | None,
            typer.Option(
                "--tie",
                help="Tie rule: expected (exact mean over ties; default), first (CURE), last (UTRL).",
            ),
        ] = None,
        paper: PaperOpt = None,
        drop_invalid: DropInvalidOpt = False,
        plot: Annotated[
            Path | None, typer.Option("--plot", help="Save the accuracy-vs-N curve as a PNG.")
        ] = None,
        out: Annotated[
            Path | None, typer.Option("--out", help="Write per (task, model) details as JSON lines.")
        ] = None,
        workers: WorkersOpt = None,
        cache_dir: CacheOpt = None,
        cpu_seconds: CpuOpt = None,
        memory_mb: MemoryOpt = None,
        seed: SeedOpt = 0,
        force: ForceOpt = False,
        json_out: JsonOpt = False,
    ) -> None:
        from atest.core.metrics.bon import TIE_RULES
        from atest.core.metrics.evaluate import evaluate_bon
        from atest.core.metrics.inputs import check_n, load_eval_inputs
        from atest.core.sandbox import get_executor

        check_outputs(force=force, cache_dir=cache_dir, out=out, plot=plot)
        if paper is not None:
            check_paper(paper, tie=tie, drop_invalid=drop_invalid, ns=ns, plot=plot)
            run_paper_bon(
                tasks, tests, solution_model, n, out, workers, cache_dir, cpu_seconds, memory_mb, json_out
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
        check_n(inputs, n, curve_ns)
        if drop_invalid and tests == GROUND_TRUTH:
            inputs.warnings.append("--drop-invalid has no effect with ground_truth tests")
        print_warnings(inputs.warnings)
        limits = limits_from_options(cpu_seconds, memory_mb)
        with (
            get_executor(workers=workers, settings=sandbox_settings(), cache_dir=cache_dir) as executor,
            progress_bar("running candidates", json_out) as progress,
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
        summary = _summary(run, inputs)
        if json_out:
            emit_json(summary)
        else:
            _render(summary)


def _summary(run: BonRun, inputs: EvalInputs) -> dict:
    r = run.result
    n_tests = [c.n_tests for c in run.outcome.counts]
    return {
        "accuracy": r.accuracy,
        "n_tasks": r.n_tasks,
        "per_model": r.per_model,
        "ci95": r.ci95,
        "oracle_accuracy": r.oracle,
        "per_model_oracle": r.per_model_oracle,
        "curve": {m: {str(k): v for k, v in pts.items()} for m, pts in r.curve.items()},
        "oracle_curve": {m: {str(k): v for k, v in pts.items()} for m, pts in r.oracle_curve.items()},
        "n": r.n,
        "tie": r.rule,
        "tests": inputs.tests_source,
        "mean_tests_per_task": sum(n_tests) / len(n_tests),
        "n_tasks_without_tests": len({c.task_id for c in run.outcome.counts if c.n_tests == 0}),
        "n_invalid_dropped": sum(run.outcome.n_invalid.values()),
        "n_malformed_tests": inputs.n_malformed_tests,
        "n_duplicate_tests": inputs.n_duplicate_tests,
        "n_executions": run.outcome.n_executions,
        "skipped": inputs.skipped,
        "warnings": inputs.warnings,
    }


def _render(s: dict) -> None:
    table = Table(title=f"best-of-N ({s['tests']}, tie rule {s['tie']}, N={s['n'] or 'all'})")
    table.add_column("solution model")
    table.add_column("accuracy", justify="right")
    table.add_column("ground-truth bound", justify="right")
    for model, acc in s["per_model"].items():
        table.add_row(model, f"{acc:.4f}", f"{s['per_model_oracle'][model]:.4f}")
    table.add_row("all", f"{s['accuracy']:.4f}", f"{s['oracle_accuracy']:.4f}", style="bold")
    console.print(table)
    console.print(f"{s['n_tasks']} tasks, 95% CI {fmt_ci(s['ci95'])}, {s['n_executions']} executions")
    for model, pts in s["curve"].items():
        console.print(f"{model}: " + "  ".join(f"N={k}: {v:.4f}" for k, v in pts.items()), highlight=False)
