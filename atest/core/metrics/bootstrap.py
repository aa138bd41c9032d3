"""Seeded percentile bootstrap over tasks.

Tasks, not tests or candidates, are the resampling unit: tests and candidates of one
task are correlated, so resampling them independently would give intervals that are
too narrow.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 0


def resample_indices(n: int, *, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> np.ndarray:
    """`resamples` x `n` task indices drawn with replacement: one row per bootstrap sample.

    One generator for every interval, so a paired difference (atest.core.stats) resamples
    the same tasks in the same order as each of its two figures' own intervals.
    """
    rng = np.random.Generator(np.random.PCG64(seed))
    return rng.integers(0, n, size=(resamples, n))


def bootstrap_ratio_ci(
    numerators: Sequence[float],
    denominators: Sequence[float],
    *,
    level: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> list[float] | None:
    """Percentile interval of sum(num) / sum(den) when whole tasks are resampled.

    A ratio of sums (not a mean of per-task ratios) so that tasks with more generated
    tests weigh more, as in a pooled rate. None when there is nothing to resample.
    """
    num = np.asarray(numerators, dtype=np.float64)
    den = np.asarray(denominators, dtype=np.float64)
    if num.shape != den.shape or num.ndim != 1:
        raise ValueError("numerators and denominators must be 1-D sequences of equal length")
    if num.size == 0 or den.sum() == 0:
        return None
    idx = resample_indices(num.size, resamples=resamples, seed=seed)
    den_sums = den[idx].sum(axis=1)
    num_sums = num[idx].sum(axis=1)
    keep = den_sums > 0
    ratios = num_sums[keep] / den_sums[keep]
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(ratios, [alpha, 1.0 - alpha])
    return [float(lo), float(hi)]


def bootstrap_mean_ci(
    values: Sequence[float],
    *,
    level: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> list[float] | None:
    """Percentile interval of the mean of per-task values."""
    return bootstrap_ratio_ci(values, [1.0] * len(values), level=level, resamples=resamples, seed=seed)
