"""`--paper utrl` for `bon` and `fidelity`: the authors' evaluation rules, rendered.

The runs are the metrics' own (`scoring.score_candidates`) under the rules object named by
`--paper` (`atest.core.rules`); this module only checks the flags and renders the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from atest.commands._common import console, emit_json
from atest.commands._evaluation import executor_with_progress, limits_from_options, print_warnings
from atest.core.errors import InputError
from atest.core.io import write_jsonl_atomic
from atest.core.results import BonPaperResult, FidelityPaperResult
from atest.core.rules import Rules, rules_named


@dataclass(frozen=True)
class PaperRun:
    """What `bon|fidelity --paper P` was asked for."""

    paper: str
    tasks: Path
    tests: str
    solution_model: str | None = None
    n: int | None = None
    out: Path | None = None
    workers: int | None = None
    cache_dir: Path | None = None
    cpu_seconds: float | None = None
    memory_mb: int | None = None
    json_out: bool = False

    @property
    def rules(self) -> Rules:
        return rules_named(self.paper)


def check_paper(
    paper: str, *, tie: str | None = None, drop_invalid: bool = False, ns: str | None = None, plot=None
) -> None:
    """Refuse what contradicts the paper's rules instead of silently ignoring it."""
    rules = rules_named(paper)
    if tie not in (None, rules.tie):
        raise InputError(
            f"--tie {tie} with --paper {paper}: UTRL breaks ties by the {rules.tie} index", "drop --tie"
        )
    if drop_invalid:
        raise InputError(f"--drop-invalid with --paper {paper}: UTRL kept invalid tests", "drop one of them")
    if ns or plot:
        raise InputError(f"--ns/--plot with --paper {paper}: not part of UTRL's evaluation", "use --n")


def _cells(run: PaperRun):
    from atest.core.metrics.inputs import check_n, load_eval_inputs
    from atest.core.metrics.utrl_paper import paper_cells, paper_tests

    inputs = load_eval_inputs(
        run.tasks, run.tests, run.solution_model, need_gold_tests=True, every_model=False
    )
    n = run.n
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
    limits = limits_from_options(run.cpu_seconds, run.memory_mb, run.rules.limits)
    with executor_with_progress(run.workers, run.cache_dir, "running candidates", run.json_out) as (
        executor,
        progress,
    ):
        cells, n_executions = paper_cells(
            executor, inputs.tasks, paper_tests(run.tests, inputs.tasks), inputs.models,
            n=n, limits=limits, progress=progress, rules=run.rules,
        )  # fmt: skip
    return inputs, cells, n_executions


def run_paper_bon(run: PaperRun) -> None:
    inputs, cells, n_executions = _cells(run)
    if run.out:
        write_jsonl_atomic(run.out, (c.to_dict() for c in cells))
    summary = BonPaperResult.from_cells(cells, inputs, run.n, run.tests, n_executions)
    if run.json_out:
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


def run_paper_fidelity(run: PaperRun) -> None:
    from atest.core.metrics.utrl_paper import fidelity_per_task

    inputs, cells, n_executions = _cells(run)
    per_task = fidelity_per_task(cells, inputs.models)
    if run.out:
        write_jsonl_atomic(run.out, ({"task_id": t, "spearman": rho} for t, rho in per_task.items()))
    summary = FidelityPaperResult.from_per_task(per_task, inputs, run.tests, n_executions)
    if run.json_out:
        emit_json(summary)
        return
    console.print(
        f"fidelity {summary.fidelity:.4f} over {summary.n_tasks} tasks (UTRL rules: a constant vector counts as 0)",
        highlight=False,
    )
