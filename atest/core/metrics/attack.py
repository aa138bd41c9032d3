"""ATGEN's metrics for tests written against (problem, buggy code) pairs.

One unit is one generated I/O pair (x, y), judged by `checking.pair_verdicts` (the decision
the ATGEN reward pays on; its rules are in `atest/core/checking/pairs.py`):

- invalid input: gold errors, times out or exceeds a limit on x, or x is over the size cap;
- IO accuracy: x is valid and y matches gold(x);
- input attack: x is valid and buggy(x) fails against gold(x) (wrong output, crash,
  timeout), whatever y says;
- attack (ATGEN's "Attack Rate", UTGen's "Acc and Attack"): IO accurate *and* input
  attack, so that a wrong y cannot "attack" for free.

A response from which no pair could be parsed counts as one unit that is none of these,
so parse failures lower the rates instead of vanishing from the denominator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from atest.core.checking import PairVerdict, paid_attack
from atest.core.metrics.bootstrap import bootstrap_ratio_ci

RATES: tuple[str, ...] = (
    "io_accuracy",
    "attack_rate",
    "input_attack_rate",
    "invalid_input_rate",
    "parse_failure_rate",
)


@dataclass(frozen=True)
class AttackUnit:
    task_id: str
    difficulty: str
    parsed: bool
    valid_input: bool = False
    io_accurate: bool = False
    input_attack: bool = False

    @classmethod
    def of(cls, task_id: str, difficulty: str, verdict: PairVerdict) -> AttackUnit:
        return cls(
            task_id,
            difficulty,
            verdict.parsed,
            verdict.valid_input,
            verdict.io_accurate,
            verdict.input_attack,
        )

    @property
    def attack(self) -> bool:
        return paid_attack(self.io_accurate, self.input_attack)

    def flag(self, rate: str) -> bool:
        return {
            "io_accuracy": self.io_accurate,
            "attack_rate": self.attack,
            "input_attack_rate": self.input_attack,
            "invalid_input_rate": self.parsed and not self.valid_input,
            "parse_failure_rate": not self.parsed,
        }[rate]


def _rates(units: Sequence[AttackUnit], seed: int) -> dict:
    task_ids = sorted({u.task_id for u in units})
    position = {t: i for i, t in enumerate(task_ids)}
    out: dict = {"n_units": len(units), "n_tasks": len(task_ids)}
    for rate in RATES:
        num = [0.0] * len(task_ids)
        den = [0.0] * len(task_ids)
        for u in units:
            den[position[u.task_id]] += 1
            num[position[u.task_id]] += u.flag(rate)
        out[rate] = sum(num) / len(units) if units else None
        out[f"{rate}_ci95"] = bootstrap_ratio_ci(num, den, seed=seed)
    return out


def attack_report(units: Sequence[AttackUnit], *, seed: int = 0) -> dict:
    """Pooled rates over all units and per difficulty, each with a task-bootstrap interval."""
    if not units:
        raise ValueError("no generated tests to evaluate")
    report = _rates(units, seed)
    report["by_difficulty"] = {
        d: _rates([u for u in units if u.difficulty == d], seed)
        for d in sorted({u.difficulty for u in units})
    }
    return report
