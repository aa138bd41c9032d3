"""Best-of-N accuracy: pick the candidate that passes most generated tests, check it on gold.

Every candidate of a task is scored against the same tests, so pass *counts* rank them
exactly (no float ties from dividing). Tie rules:

- `expected`: the exact expected correctness when the pick is uniform among the tied
  best candidates, i.e. the mean correctness over the tied set (ours, the default);
- `first` / `last`: the lowest / highest tied index (CURE / UTRL).

A task with no tests gives every candidate 0 passed, so all candidates tie.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from atest.core.metrics.bootstrap import bootstrap_mean_ci

TieRule = Literal["expected", "first", "last"]
TIE_RULES: tuple[str, ...] = ("expected", "first", "last")


@dataclass(frozen=True)
class CandidateScores:
    """One task's candidates from one solution model: tests passed and gold correctness."""

    task_id: str
    model: str
    n_tests: int
    passed: tuple[int, ...]
    correct: tuple[bool, ...]

    def __post_init__(self) -> None:
        if len(self.passed) != len(self.correct):
            raise ValueError(f"{self.task_id}/{self.model}: passed and correct differ in length")


def tied_best(passed: Sequence[int]) -> list[int]:
    """Indices of the candidates with the most tests passed, in order."""
    best = max(passed)
    return [i for i, p in enumerate(passed) if p == best]


def select_index(passed: Sequence[int], rule: Literal["first", "last"]) -> int:
    """The candidate a deterministic tie rule selects: the lowest / highest tied index."""
    if not passed:
        raise ValueError("no candidates to select from")
    tied = tied_best(passed)
    if rule == "first":
        return tied[0]
    if rule == "last":
        return tied[-1]
    raise ValueError(f"unknown tie rule {rule!r}; expected first or last")


def select_value(passed: Sequence[int], correct: Sequence[bool], rule: TieRule) -> float:
    """Correctness of the selection among these candidates (a probability under `expected`).

    The one best-of-N selection: the metrics, validation, `filter` (`first` over its pooled
    candidates) and the UTRL rules (`last`) all pick through here or `select_index`.
    """
    if not passed:
        raise ValueError("no candidates to select from")
    if rule == "expected":
        tied = tied_best(passed)
        return sum(1 for i in tied if correct[i]) / len(tied)
    if rule in ("first", "last"):
        return float(correct[select_index(passed, rule)])
    raise ValueError(f"unknown tie rule {rule!r}; expected one of {', '.join(TIE_RULES)}")


def bon_value(cell: CandidateScores, n: int, rule: TieRule) -> float:
    """Best-of-n over the first n candidates of one (task, model)."""
    if n < 1 or n > len(cell.passed):
        raise ValueError(f"{cell.task_id}/{cell.model}: n={n} but {len(cell.passed)} candidates")
    return select_value(cell.passed[:n], cell.correct[:n], rule)


def oracle_value(cell: CandidateScores, n: int) -> float:
    """1 when any of the first n candidates is correct: what perfect tests would achieve."""
    if n < 1 or n > len(cell.correct):
        raise ValueError(f"{cell.task_id}/{cell.model}: n={n} but {len(cell.correct)} candidates")
    return float(any(cell.correct[:n]))


@dataclass
class BonResult:
    """Headline accuracy (at `n`), per model, curves over `ns`, and the oracle bound."""

    n: int | None
    rule: str
    accuracy: float
    n_tasks: int
    per_model: dict[str, float]
    ci95: list[float] | None
    oracle: float
    per_model_oracle: dict[str, float]
    curve: dict[str, dict[int, float]] = field(default_factory=dict)
    oracle_curve: dict[str, dict[int, float]] = field(default_factory=dict)
    per_task: dict[str, float] = field(default_factory=dict)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _n_for(cell: CandidateScores, n: int | None) -> int:
    return len(cell.passed) if n is None else n


def bon_report(
    cells: Sequence[CandidateScores],
    *,
    n: int | None = None,
    ns: Sequence[int] = (),
    rule: TieRule = "expected",
    seed: int = 0,
) -> BonResult:
    """Aggregate best-of-N over (task, model) cells.

    `n=None` uses all candidates of each cell. A task's value is the mean over the solution
    models; the headline accuracy is the mean over tasks, which equals the mean of the
    per-model accuracies because every task carries every model (the caller checks that).
    The interval resamples tasks.
    """
    if not cells:
        raise ValueError("no (task, model) cells to evaluate")
    models = sorted({c.model for c in cells})
    by_task: dict[str, list[CandidateScores]] = {}
    for c in cells:
        by_task.setdefault(c.task_id, []).append(c)
    for task_id, group in by_task.items():
        if sorted(c.model for c in group) != models:
            raise ValueError(f"task {task_id!r} lacks candidates for some of {models}")
    per_task = {t: _mean([bon_value(c, _n_for(c, n), rule) for c in g]) for t, g in by_task.items()}
    per_task_oracle = {t: _mean([oracle_value(c, _n_for(c, n)) for c in g]) for t, g in by_task.items()}

    def model_mean(value_of, model: str) -> float:
        return _mean([value_of(c) for c in cells if c.model == model])

    result = BonResult(
        n=n,
        rule=rule,
        accuracy=_mean(list(per_task.values())),
        n_tasks=len(by_task),
        per_model={m: model_mean(lambda c: bon_value(c, _n_for(c, n), rule), m) for m in models},
        ci95=bootstrap_mean_ci(list(per_task.values()), seed=seed),
        oracle=_mean(list(per_task_oracle.values())),
        per_model_oracle={m: model_mean(lambda c: oracle_value(c, _n_for(c, n)), m) for m in models},
        per_task=per_task,
    )
    for m in models:
        result.curve[m] = {k: model_mean(lambda c, k=k: bon_value(c, k, rule), m) for k in ns}
        result.oracle_curve[m] = {k: model_mean(lambda c, k=k: oracle_value(c, k), m) for k in ns}
    return result
