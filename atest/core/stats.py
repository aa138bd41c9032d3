"""Figures over tasks, their 95% intervals and paired differences between two models.

A study compares models on the same held-out tasks. Each task contributes a numerator and
a denominator to a figure (`TaskValue`): one unit per task for a mean of per-task values
(best-of-N, fidelity), or several units clustered in their task for a pooled rate (ATGEN's
attack rate over every generated test of the task; mutants killed over mutants). The
figure is sum(num) / sum(den), exactly what the evaluation commands print, and an interval
resamples whole tasks (atest.core.metrics.bootstrap), so correlated units of one task never
narrow it. A *paired* difference resamples the tasks both models were evaluated on, once,
and takes both figures on each resample: the task-to-task variation that both models share
cancels, which is what makes a small difference between two models detectable at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from atest.core.metrics.bootstrap import DEFAULT_RESAMPLES, DEFAULT_SEED, bootstrap_ratio_ci, resample_indices


@dataclass(frozen=True)
class TaskValue:
    """One task's share of a figure: `num` units counted out of `den` (den 1: a per-task value)."""

    num: float
    den: float = 1.0


@dataclass(frozen=True)
class PairedDiff:
    diff: float | None  # figure(A) - figure(B) over the tasks both have
    ci95: list[float] | None
    n_tasks: int


def estimate(values: Mapping[str, TaskValue]) -> float | None:
    """sum(num) / sum(den): a pooled rate, or the mean of per-task values when every den is 1."""
    den = sum(v.den for v in values.values())
    return sum(v.num for v in values.values()) / den if den else None


def bootstrap_ci(
    values: Mapping[str, TaskValue],
    *,
    level: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> list[float] | None:
    """Percentile interval of `estimate` when whole tasks are resampled (the commands' own CI)."""
    ordered = [values[k] for k in sorted(values)]
    return bootstrap_ratio_ci(
        [v.num for v in ordered], [v.den for v in ordered], level=level, resamples=resamples, seed=seed
    )


def paired_diff(
    a: Mapping[str, TaskValue],
    b: Mapping[str, TaskValue],
    *,
    level: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> PairedDiff:
    """estimate(A) - estimate(B) on the tasks both were scored on, with a paired task bootstrap.

    A resample whose drawn tasks give either model no unit (den 0) is left out, as in
    `bootstrap_ratio_ci`. No common task: diff and interval are None.
    """
    common = sorted(set(a) & set(b))
    if not common:
        return PairedDiff(None, None, 0)
    arrays = [np.asarray([[m[k].num, m[k].den] for k in common], dtype=np.float64) for m in (a, b)]
    (num_a, den_a), (num_b, den_b) = ((x[:, 0], x[:, 1]) for x in arrays)
    if den_a.sum() == 0 or den_b.sum() == 0:
        return PairedDiff(None, None, len(common))
    diff = float(num_a.sum() / den_a.sum() - num_b.sum() / den_b.sum())
    idx = resample_indices(len(common), resamples=resamples, seed=seed)
    da, db = den_a[idx].sum(axis=1), den_b[idx].sum(axis=1)
    keep = (da > 0) & (db > 0)
    diffs = num_a[idx].sum(axis=1)[keep] / da[keep] - num_b[idx].sum(axis=1)[keep] / db[keep]
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(diffs, [alpha, 1.0 - alpha])
    return PairedDiff(diff, [float(lo), float(hi)], len(common))


def verdict(d: PairedDiff) -> str:
    """How a paired interval reads: 'higher', 'lower', 'no difference shown', or 'not measured'."""
    if d.ci95 is None or d.diff is None:
        return "not measured"
    if d.ci95[0] > 0:
        return "higher"
    if d.ci95[1] < 0:
        return "lower"
    return "no difference shown"
