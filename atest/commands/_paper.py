"""`--paper utrl` for `bon` and `fidelity`: the authors' evaluation rules, rendered."""

from __future__ import annotations

from pathlib import Path

from atest.commands._common import console, emit_json, sandbox_settings
from atest.commands._evaluation import limits_from_options, print_warnings, progress_bar
from atest.core.errors import InputError
from atest.core.io import write_jsonl_atomic


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
    from atest.core.sandbox import get_executor

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
    with (
        get_executor(workers=workers, settings=sandbox_settings(), cache_dir=cache_dir) as executor,
        progress_bar("running candidates", json_out) as progress,
    ):
        cells, n_executions = paper_cells(
            executor, inputs.tasks, paper_tests(tests, inputs.tasks), inputs.models,
            n=n, limits=limits, progress=progress,
        )  # fmt: skip
    return inputs, cells, n_executions


def run_paper_bon(
    tasks: Path, tests: str, solution_model, n, out, workers, cache_dir, cpu_seconds, memory_mb, json_out
) -> None:
    from atest.core.metrics.utrl_paper import bon_summary

    inputs, cells, n_executions = _cells(
        tasks, tests, solution_model, n, workers, cache_dir, cpu_seconds, memory_mb, json_out
    )
    if out:
        write_jsonl_atomic(out, (c.to_dict() for c in cells))
    summary = {
        **bon_summary(cells),
        "n_tasks": len({c.task_id for c in cells}),
        "n": n,
        "tie": "last",
        "paper": "utrl",
        "tests": tests,
        "n_executions": n_executions,
        "skipped": inputs.skipped,
        "warnings": inputs.warnings,
    }
    if json_out:
        emit_json(summary)
        return
    for model, acc in summary["per_model"].items():
        console.print(
            f"{model}: accuracy {acc:.4f}, mean gold score {summary['per_model_score'][model]:.4f} "
            f"over {summary['per_model_tasks'][model]} tasks",
            highlight=False,
        )
    console.print(
        f"UTRL rules (last-index ties, each model on its own): mean over models {summary['accuracy']:.4f}; "
        f"{summary['n_tasks_without_tests']} task(s) without a parsed test took candidate 0",
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
    fidelity = sum(per_task.values()) / len(per_task)
    summary = {
        "fidelity": fidelity,
        "n_tasks": len(per_task),
        "paper": "utrl",
        "solution_models": inputs.models,
        "tests": tests,
        "n_executions": n_executions,
        "skipped": inputs.skipped,
        "warnings": inputs.warnings,
    }
    if json_out:
        emit_json(summary)
        return
    console.print(
        f"fidelity {fidelity:.4f} over {len(per_task)} tasks (UTRL rules: a constant vector counts as 0)",
        highlight=False,
    )
