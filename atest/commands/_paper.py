"""`--paper utrl` for `bon` and `fidelity`: the authors' evaluation rules, rendered."""

from __future__ import annotations

from pathlib import Path

from atest.commands._common import console, emit_json
from atest.commands._evaluation import executor_with_progress, limits_from_options, print_warnings
from atest.core.errors import InputError
from atest.core.io import write_jsonl_atomic
from atest.core.results import BonPaperResult, FidelityPaperResult


def check_paper(
    paper: str, *, tie: str | None = None, drop_invalid: bool = False, ns: str | None = None, plot=None
) -> None:
    """Refuse what contradicts the paper's rules instead of silently ignoring it."""
    from atest.core.paper import PAPERS

    if paper not in PAPERS:
        raise InputError(f"--paper {paper!r}: expected one of {', '.join(PAPERS)}")
    if tie not in (None, "last"):
        raise InputError(
            f"--tie {tie} with --paper {paper}: UTRL breaks ties by the last index", "drop --tie"
        )
    if drop_invalid:
        raise InputError(f"--drop-invalid with --paper {paper}: UTRL kept invalid tests", "drop one of them")
    if ns or plot:
        raise InputError(f"--ns/--plot with --paper {paper}: not part of UTRL's evaluation", "use --n")


def _cells(tasks, tests, solution_model, n, workers, cache_dir, cpu_seconds, memory_mb, json_out):
    from atest.core.metrics.inputs import check_n, load_eval_inputs
    from atest.core.metrics.utrl_paper import paper_cells, paper_tests

    inputs = load_eval_inputs(tasks, tests, solution_model, need_gold_tests=True, every_model=False)
    if n is not None:
        for task in inputs.tasks:
            for model in inputs.models:
                if task.candidates.get(model) and len(task.candidates[model]) < n:
                    raise InputError(
                        f"--n {n} but task {task.task_id!r} has {len(task.candidates[model])} "
                        f"candidates from {model!r}",
                        "lower --n",
                    )
    else:
        check_n(inputs, None, [])
    print_warnings(inputs.warnings)
    limits = limits_from_options(cpu_seconds, memory_mb)
    with executor_with_progress(workers, cache_dir, "running candidates", json_out) as (executor, progress):
        cells, n_executions = paper_cells(
            executor, inputs.tasks, paper_tests(tests, inputs.tasks), inputs.models,
            n=n, limits=limits, progress=progress,
        )  # fmt: skip
    return inputs, cells, n_executions


def run_paper_bon(
    tasks: Path, tests: str, solution_model, n, out, workers, cache_dir, cpu_seconds, memory_mb, json_out
) -> None:
    inputs, cells, n_executions = _cells(
        tasks, tests, solution_model, n, workers, cache_dir, cpu_seconds, memory_mb, json_out
    )
    if out:
        write_jsonl_atomic(out, (c.to_dict() for c in cells))
    summary = BonPaperResult.from_cells(cells, inputs, n, tests, n_executions)
    if json_out:
        emit_json(summary)
        return
    for model, acc in summary.per_model.items():
        console.print(
            f"{model}: accuracy {acc:.4f}, mean gold score {summary.per_model_score[model]:.4f} "
            f"over {summary.per_model_tasks[model]} tasks",
            highlight=False,
        )
    console.print(
        f"UTRL rules (last-index ties, each model on its own): mean over models {summary.accuracy:.4f}; "
        f"{summary.n_tasks_without_tests} task(s) without a parsed test took candidate 0",
        highlight=False,
    )


def run_paper_fidelity(
    tasks: Path, tests: str, solution_model, n, out, workers, cache_dir, cpu_seconds, memory_mb, json_out
) -> None:
    from atest.core.metrics.utrl_paper import fidelity_per_task

    inputs, cells, n_executions = _cells(
        tasks, tests, solution_model, n, workers, cache_dir, cpu_seconds, memory_mb, json_out
    )
    per_task = fidelity_per_task(cells, inputs.models)
    if out:
        write_jsonl_atomic(out, ({"task_id": t, "spearman": rho} for t, rho in per_task.items()))
    summary = FidelityPaperResult.from_per_task(per_task, inputs, tests, n_executions)
    if json_out:
        emit_json(summary)
        return
    console.print(
        f"fidelity {summary.fidelity:.4f} over {summary.n_tasks} tasks (UTRL rules: a constant vector counts as 0)",
        highlight=False,
    )
