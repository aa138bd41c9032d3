"""Best-of-N and fidelity under UTRL's own evaluation rules (`bon|fidelity --paper utrl`).

What the authors' `evaluate_bon_solution.py` and `compute_ut_fidelity.py` do, per (task,
solution model), each model on its own:

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
from dataclasses import dataclass, field

from atest.core.checking import Batch, Progress, Test, as_tests, well_formed
from atest.core.metrics.bon import select_index
from atest.core.metrics.fidelity import task_spearman
from atest.core.metrics.scoring import CHUNK_JOBS, candidates_of
from atest.core.metrics.testsfile import GROUND_TRUTH, TestsRow, read_tests_file
from atest.core.paper import utrl as paper
from atest.core.sandbox import Execution, Executor, Limits, Program
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


@dataclass
class _Plan:
    task: Task
    model: str
    tests: list[Test]
    scoring: list[list[int | None]]  # per candidate, per test
    gold: list[list[int | None]]  # per candidate, per gold test
    fallback_gold: list[int | None] = field(default_factory=list)  # candidate 0 as written, no tests

    def cell(self, results: list[Execution]) -> PaperCell:
        def passed(slots: list[int | None], tests: list[Test]) -> int:
            return sum(
                paper.passes(None if s is None else results[s], test=t)
                for s, t in zip(slots, tests, strict=True)
            )

        gold_tests = as_tests(self.task.gold_tests)
        gold_scores = [passed(g, gold_tests) / len(gold_tests) for g in self.gold]
        if self.tests:
            counts = [passed(s, self.tests) for s in self.scoring]
            scores = [c / len(self.tests) for c in counts]
            selected = select_index(counts, "last")
            best = scores[selected]
            selected_gold = gold_scores[selected]
        else:
            scores, best, selected = [0.0] * len(self.gold), None, 0
            selected_gold = passed(self.fallback_gold, gold_tests) / len(gold_tests)
        return PaperCell(
            self.task.task_id, self.model, len(self.tests), scores, gold_scores, selected, best,
            selected_gold, float(selected_gold == 1.0),
        )  # fmt: skip


def _plan(batch: Batch, task: Task, model: str, tests: list[Test], n: int | None) -> _Plan:
    def slots(prog: Program | None, values: list[Test]) -> list[int | None]:
        return [None if prog is None else batch.add(prog, t.input) for t in values]

    codes = candidates_of(task, model, n)
    programs = [paper.program(task, paper.extract_code(code)) for code in codes]
    gold_tests = as_tests(task.gold_tests)
    plan = _Plan(
        task, model, tests, [slots(p, tests) for p in programs], [slots(p, gold_tests) for p in programs]
    )
    if not tests:
        plan.fallback_gold = slots(paper.program(task, codes[0]), gold_tests)
    return plan


def paper_cells(
    executor: Executor,
    tasks: Sequence[Task],
    tests: dict[str, list[Test]],
    models: Sequence[str],
    *,
    n: int | None,
    limits: Limits,
    progress: Progress | None = None,
) -> tuple[list[PaperCell], int]:
    """Every (task, model) cell with candidates from that model, and the executions run."""
    work = [(t, m) for t in tasks for m in models if t.candidates.get(m) and t.gold_tests]
    cells: list[PaperCell] = []
    n_executions, i = 0, 0
    while i < len(work):
        batch, plans = Batch(limits), []
        while i < len(work) and len(batch) < CHUNK_JOBS:
            task, model = work[i]
            plans.append(_plan(batch, task, model, tests.get(task.task_id, []), n))
            i += 1
        results = batch.run(executor)
        n_executions += len(results)
        cells.extend(p.cell(results) for p in plans)
        if progress:
            progress(i, len(work))
    return cells, n_executions


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
