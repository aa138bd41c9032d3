"""Unit-test fidelity: does ranking candidates by generated tests agree with gold tests?

Per task, every candidate of every solution model gets two scores (tests passed among the
generated tests, and among the gold tests); fidelity is Spearman's rho between the two
vectors (average ranks for ties), averaged over tasks. When either vector is constant
rho is undefined: UTRL counted it as 0, which we report as `fidelity`, alongside the
number of such tasks and the mean over the remaining ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from atest.core.metrics.bootstrap import bootstrap_mean_ci


@dataclass(frozen=True)
class TaskScoreVectors:
    """One task's candidates (all solution models, concatenated in a fixed order)."""

    task_id: str
    generated: tuple[int, ...]  # generated tests passed, per candidate
    gold: tuple[int, ...]  # gold tests passed, per candidate

    def __post_init__(self) -> None:
        if len(self.generated) != len(self.gold):
            raise ValueError(f"{self.task_id}: score vectors differ in length")


def task_spearman(generated: Sequence[float], gold: Sequence[float]) -> float | None:
    """Spearman's rho, or None when it is undefined (a constant vector, or < 2 candidates)."""
    if len(generated) < 2 or len(set(generated)) < 2 or len(set(gold)) < 2:
        return None
    from scipy.stats import spearmanr  # here, not at the top: scipy.stats costs every command ~1 s

    rho = float(spearmanr(generated, gold).statistic)
    return None if math.isnan(rho) else rho


@dataclass
class FidelityResult:
    fidelity: float  # constant tasks count as 0 (UTRL's convention)
    n_tasks: int
    n_constant: int
    fidelity_excluding_constant: float | None  # None when every task is constant
    ci95: list[float] | None
    ci95_excluding_constant: list[float] | None
    per_task: dict[str, float | None]


def fidelity_report(vectors: Sequence[TaskScoreVectors], *, seed: int = 0) -> FidelityResult:
    if not vectors:
        raise ValueError("no tasks to evaluate")
    per_task = {v.task_id: task_spearman(v.generated, v.gold) for v in vectors}
    with_zero = [0.0 if r is None else r for r in per_task.values()]
    defined = [r for r in per_task.values() if r is not None]
    return FidelityResult(
        fidelity=sum(with_zero) / len(with_zero),
        n_tasks=len(vectors),
        n_constant=len(vectors) - len(defined),
        fidelity_excluding_constant=sum(defined) / len(defined) if defined else None,
        ci95=bootstrap_mean_ci(with_zero, seed=seed),
        ci95_excluding_constant=bootstrap_mean_ci(defined, seed=seed),
        per_task=per_task,
    )
