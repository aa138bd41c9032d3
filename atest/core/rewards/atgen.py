"""ATGEN's reward for one generated test (x, y) against the row's buggy code.

Three terms of equal weight, each in [-0.5, 1], summed (docs/rewards.md, "ATGEN test generator"):
- format: 1 when the response is one reasoned, fenced test; -0.5 otherwise.
- io_accuracy: 1 when gold runs on x and produces y; 0 when gold runs but y is wrong;
  -0.5 when x is invalid (gold crashes, exceeds a limit, or x is over the size cap) or no test
  was parsed.
- attack: 1 when the test is accurate and the buggy code fails against gold(x) (wrong output,
  crash or time-out); 0 otherwise, since a wrong y would "attack" for free; -0.5 when no test
  was parsed.
`input_attack` (buggy(x) differs from gold(x), whatever y says) is logged but not paid. The
decision on the pair is `checking.pair_verdict`, the one the ATGEN metrics count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from atest.core.checking import PairCheck, PairVerdict, Test, pair_verdicts
from atest.core.parsing import parse_tests
from atest.core.rewards.common import RewardResult
from atest.core.sandbox import Executor, Limits
from atest.core.tasks import Task

PENALTY = -0.5


@dataclass
class AtgenItem:
    task: Task
    response: str
    buggy_code: str


@dataclass(frozen=True)
class AtgenOutcome:
    """One response's parsed pair (a JSON row, None when nothing parsed), the pair's verdict
    (`checking.pair_verdict`, shared with the metrics) and the reward paid on it."""

    test: dict | None
    verdict: PairVerdict
    result: RewardResult


def judge_atgen(
    executor: Executor, items: Sequence[AtgenItem], *, limits: Limits | None = None
) -> list[AtgenOutcome]:
    """Every response's pair judged and rewarded, gold and buggy runs in one batched sandbox call."""
    rows, formed, checks = [], [], []
    for item in items:
        parsed = parse_tests(item.response, item.task.kind, template="atgen", max_tests=1)
        row = parsed.tests[0] if parsed.tests else None
        rows.append(row)
        formed.append(parsed.well_formed)
        checks.append(PairCheck(item.task, item.buggy_code, None if row is None else Test.from_dict(row)))
    verdicts, _ = pair_verdicts(executor, checks, limits=limits or Limits())
    return [
        AtgenOutcome(row, verdict, _reward(verdict, well_formed))
        for row, verdict, well_formed in zip(rows, verdicts, formed, strict=True)
    ]


def score_atgen(
    executor: Executor, items: Sequence[AtgenItem], *, limits: Limits | None = None
) -> list[RewardResult]:
    """Every response's ATGEN reward (see `judge_atgen`)."""
    return [outcome.result for outcome in judge_atgen(executor, items, limits=limits)]


def _reward(verdict: PairVerdict, well_formed: bool) -> RewardResult:
    if not verdict.parsed:
        return _result(PENALTY, PENALTY, PENALTY, valid=0.0, input_attack=0.0)
    fmt = 1.0 if well_formed else PENALTY
    if not verdict.valid_input:
        return _result(fmt, PENALTY, 0.0, valid=0.0, input_attack=0.0)
    accuracy = 1.0 if verdict.io_accurate else 0.0
    return _result(fmt, accuracy, float(verdict.attack), valid=1.0, input_attack=float(verdict.input_attack))


def _result(fmt: float, accuracy: float, attack: float, *, valid: float, input_attack: float) -> RewardResult:
    return RewardResult(
        score=fmt + accuracy + attack,
        components={
            "format": fmt,
            "io_accuracy": accuracy,
            "attack": attack,
            "valid_input": valid,
            "input_attack": input_attack,
        },
    )
