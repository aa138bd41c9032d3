"""Best-of-N and fidelity reported as UTRL's scripts report them (`bon|fidelity --paper utrl`).

The runs and the verdicts are `scoring.score_candidates` with `rules=rules.UTRL` (no second
copy); this module reads the tests as the authors do and shapes the counts into their log's
per-(task, model) cells. What the authors' `evaluate_bon_solution.py` and
`compute_ut_fidelity.py` do, per (task, solution model), each model on its own:

* the tests are the authors' parse of each generated response, duplicates kept (or the
  task's gold tests for `ground_truth`), judged by their rules (`atest.core.paper.utrl`);
* each candidate's code is cut out of it (`extract_code`) and scored by the fraction of the
  tests it passes; the selection is the **last** candidate with the highest score;
* when no test was parsed, every score is 0 and the first candidate is selected, as it was
  written (not cut out). Their script prints a variable left from the previous task here and
  crashes with a NameError when the first task has no test; we take candidate 0 in every case;
* the selection counts as solved when it passes every gold test;
* fidelity is Spearman's rho between the candidates' scores on the generated and on the gold
  tests, all solution models concatenated, a NaN (constant vector) counted as 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from atest.core.checking import Progress, Test, as_tests, well_formed
from atest.core.metrics.bon import select_index
from atest.core.metrics.fidelity import task_spearman
from atest.core.metrics.scoring import CandidateCounts, score_candidates
from atest.core.metrics.testsfile import GROUND_TRUTH, TestsRow, read_tests_file
from atest.core.paper import utrl as paper
from atest.core.rules import UTRL, Rules
from atest.core.sandbox import Executor, Limits
from atest.core.tasks import Task


def paper_tests(tests: str, tasks: Sequence[Task]) -> dict[str, list[Test]]:
    """Each task's tests as the authors' scripts see them; tasks with no row are absent.

    A row that keeps its raw `responses` (as `gen-tests` writes) is re-parsed with the
    authors' parser; otherwise its `tests` are used as they are. Duplicates are kept.
    """
    if tests == GROUND_TRUTH:
        return {t.task_id: as_tests(t.gold_tests) for t in tasks if t.gold_tests}
    by_id = {t.task_id: t for t in tasks}
    out: dict[str, list[Test]] = {}
    for row in read_tests_file(tests):
        task = by_id.get(row.task_id)
        if task is not None:
            out.setdefault(row.task_id, []).extend(_row_tests(row, task))
    return out


def _row_tests(row: TestsRow, task: Task) -> list[Test]:
    if row.responses is not None:
        return [t for r in row.responses for t in paper.parse_tests(r)]
    return as_tests(t for t in row.tests if well_formed(t, task.kind))


@dataclass
class PaperCell:
    """One (task, solution model) as the authors' evaluation log records it."""

    task_id: str
    model: str
    n_tests: int
    scores: list[float]  # per candidate: fraction of the tests passed
    gold_scores: list[float]  # per candidate: fraction of the gold tests passed
    selected: int
    best_score: float | None  # None: no test was parsed
    selected_gold_score: float
    solved: float

    def to_dict(self) -> dict:
        return {
            "task_id": self.task_id,
            "model": self.model,
            "n_tests": self.n_tests,
            "scores": self.scores,
            "gold_scores": self.gold_scores,
            "selected": self.selected,
            "best_score": self.best_score,
            "selected_gold_score": self.selected_gold_score,
            "selected_passed_gold": self.solved,
        }


def paper_cell(counts: CandidateCounts, rules: Rules = UTRL) -> PaperCell:
    """One (task, model)'s counts as the authors' evaluation log records them."""
    gold_scores = [g / counts.n_gold for g in counts.gold_passed]
    if counts.n_tests:
        scores = [p / counts.n_tests for p in counts.passed]
        if rules.tie == "expected":
            raise ValueError("an evaluation log's cell needs a deterministic tie rule (first or last)")
        selected = select_index(counts.passed, rules.tie)
        best: float | None = scores[selected]
        selected_gold = gold_scores[selected]
    else:
        scores, best, selected = [0.0] * len(counts.passed), None, 0
        written = counts.first_as_written_gold_passed
        selected_gold = gold_scores[0] if written is None else written / counts.n_gold
    return PaperCell(
        counts.task_id, counts.model, counts.n_tests, scores, gold_scores, selected, best,
        selected_gold, float(selected_gold == 1.0),
    )  # fmt: skip


def paper_cells(
    executor: Executor,
    tasks: Sequence[Task],
    tests: dict[str, list[Test]],
    models: Sequence[str],
    *,
    n: int | None,
    limits: Limits,
    progress: Progress | None = None,
    rules: Rules = UTRL,
) -> tuple[list[PaperCell], int]:
    """Every (task, model) cell with candidates from that model, and the executions run:
    `scoring.score_candidates` under `rules`, each model on its own."""
    tasks = [t for t in tasks if t.gold_tests]
    outcome = score_candidates(
        executor, tasks, tests, models, n=n, limits=limits, every_model=False, progress=progress, rules=rules
    )
    return [paper_cell(c, rules) for c in outcome.counts], outcome.n_executions


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def bon_summary(cells: Sequence[PaperCell]) -> dict:
    """Accuracy and mean gold score of the selections, per model and averaged over models."""
    models = sorted({c.model for c in cells})
    per_model = {m: _mean([c.solved for c in cells if c.model == m]) for m in models}
    per_model_score = {m: _mean([c.selected_gold_score for c in cells if c.model == m]) for m in models}
    return {
        "accuracy": _mean(list(per_model.values())),
        "per_model": per_model,
        "per_model_score": per_model_score,
        "per_model_tasks": {m: sum(1 for c in cells if c.model == m) for m in models},
        "n_tasks_without_tests": len({c.task_id for c in cells if c.n_tests == 0}),
    }


def fidelity_per_task(cells: Sequence[PaperCell], models: Sequence[str]) -> dict[str, float]:
    """Per task, rho over the candidates of every model (in `models` order); NaN counts as 0."""
    by_task: dict[str, dict[str, PaperCell]] = {}
    for c in cells:
        by_task.setdefault(c.task_id, {})[c.model] = c
    out = {}
    for task_id, group in by_task.items():
        present = [group[m] for m in models if m in group]
        rho = task_spearman(
            [s for c in present for s in c.scores], [s for c in present for s in c.gold_scores]
        )
        out[task_id] = 0.0 if rho is None else rho
    return out
