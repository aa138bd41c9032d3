"""ATGEN's reward for one generated test (x, y) against the row's buggy code.

Three terms of equal weight, each in [-0.5, 1], summed (docs/rewards.md, "ATGEN test generator"):
- format: 1 when the response is one reasoned, fenced test; -0.5 otherwise.
- io_accuracy: 1 when gold runs on x and produces y; 0 when gold runs but y is wrong;
  -0.5 when x is invalid (gold crashes, exceeds a limit, or x is over the size cap) or no test
  was parsed.
- attack: 1 when the test is accurate and the buggy code fails it (wrong output, crash or
  time-out); 0 otherwise, since a wrong y would "attack" for free; -0.5 when no test was parsed.
`input_attack` (buggy(x) differs from gold(x), whatever y says) is logged but not paid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from atest.core.checking import Batch, Test, completed, gold_program, passes, program, runnable
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


def score_atgen(
    executor: Executor, items: Sequence[AtgenItem], *, limits: Limits | None = None
) -> list[RewardResult]:
    """Every response's ATGEN reward, gold and buggy runs together in one batched sandbox call."""
    batch = Batch(limits or Limits())
    plans = []
    for item in items:
        task = item.task
        parsed = parse_tests(item.response, task.kind, template="atgen", max_tests=1)
        row = parsed.tests[0] if parsed.tests else None
        test = None if row is None else Test.from_dict(row)
        slots = None
        if test is not None and runnable(row, task.kind):
            slots = (
                batch.add(gold_program(task), test.input),
                batch.add(program(task, item.buggy_code), test.input),
            )
        plans.append((item, test, parsed.well_formed, slots))
    batch.run(executor)
    return [_score(item.task, test, well_formed, slots, batch) for item, test, well_formed, slots in plans]


def _score(
    task: Task, test: Test | None, well_formed: bool, slots: tuple[int, int] | None, batch: Batch
) -> RewardResult:
    if test is None:
        return _result(PENALTY, PENALTY, PENALTY, valid=0.0, input_attack=0.0)
    fmt = 1.0 if well_formed else PENALTY
    if slots is None:
        return _result(fmt, PENALTY, 0.0, valid=0.0, input_attack=0.0)
    gold, buggy = batch[slots[0]], batch[slots[1]]
    if not completed(gold):
        return _result(fmt, PENALTY, 0.0, valid=0.0, input_attack=0.0)
    input_attack = float(not passes(buggy, test=Test(test.input, gold.output), kind=task.kind))
    if not passes(gold, test=test, kind=task.kind):
        return _result(fmt, 0.0, 0.0, valid=1.0, input_attack=input_attack)
    attack = 1.0 if not passes(buggy, test=test, kind=task.kind) else 0.0
    return _result(fmt, 1.0, attack, valid=1.0, input_attack=input_attack)


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
