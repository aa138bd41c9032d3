"""Choosing one solution per task by the tests it passes (`atest filter`).

No gold tests are involved: this is the production use, where generated tests are the
only judge. Candidates of all requested models form one pool per task; the pick is the
candidate passing most tests, ties going to the earliest in (model order, index) so
that the same inputs always give the same file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from atest.core.metrics.scoring import CandidateCounts, Progress, score_candidates
from atest.core.sandbox import Executor, Limits
from atest.core.tasks import Task


@dataclass
class Selection:
    task_id: str
    model: str
    index: int
    code: str
    n_passed: int
    n_tests: int
    score: float  # fraction of the tests passed; 0 when the task has no tests
    n_tied: int  # candidates sharing the best count (1 means the tests decided alone)
    n_candidates: int
    passed: dict[str, list[int]]  # tests passed by every candidate, per model

    def to_dict(self) -> dict:
        return asdict(self)


def select_best(task: Task, counts: Sequence[CandidateCounts]) -> Selection:
    pool = [(c.model, i, p) for c in counts for i, p in enumerate(c.passed)]
    best = max(p for _, _, p in pool)
    tied = [(m, i) for m, i, p in pool if p == best]
    model, index = tied[0]
    n_tests = counts[0].n_tests
    return Selection(
        task_id=task.task_id,
        model=model,
        index=index,
        code=task.candidates[model][index],
        n_passed=best,
        n_tests=n_tests,
        score=best / n_tests if n_tests else 0.0,
        n_tied=len(tied),
        n_candidates=len(pool),
        passed={c.model: list(c.passed) for c in counts},
    )


def select_solutions(
    executor: Executor,
    tasks: Sequence[Task],
    tests: dict[str, list[dict]],
    models: Sequence[str],
    *,
    limits: Limits,
    progress: Progress | None = None,
) -> list[Selection]:
    """Run every candidate on its task's tests (large batches of whole tasks) and pick per task."""
    outcome = score_candidates(
        executor, tasks, tests, models, with_gold=False, limits=limits, every_model=False, progress=progress
    )
    by_task: dict[str, list[CandidateCounts]] = {}
    for c in outcome.counts:
        by_task.setdefault(c.task_id, []).append(c)
    return [select_best(t, by_task[t.task_id]) for t in tasks]


def below_threshold(selections: Sequence[Selection], min_pass: float) -> list[Selection]:
    """Tasks whose best candidate passes less than `min_pass` of the tests."""
    return [s for s in selections if s.score < min_pass]
