"""ATGEN's decision on one generated pair (x, y) against a task's gold solution and a buggy code.

The one place it is made; the ATGEN reward (`rewards/atgen.py`), its metrics
(`metrics/scoring.attack_units`), the training reward's observations and validation all read
it. With gold(x) the gold solution's output on x:

- valid input: gold runs to completion on x (no crash, no limit) and x is under the size cap;
- IO accuracy: x is valid and y is gold(x) (the pass verdict of gold on the test);
- input attack: x is valid and the buggy code fails against gold(x) (wrong output, crash or
  limit), whatever y says;
- attack: IO accurate *and* input attack, so that a wrong y cannot "attack" for free.

A pair that could not be parsed is none of these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from atest.core.checking.record import Test, runnable
from atest.core.checking.runs import Batch, Progress, completed, gold_program, passes, program
from atest.core.sandbox import Execution, Executor, Limits
from atest.core.tasks import Task


def paid_attack(io_accurate: bool, input_attack: bool) -> bool:
    """An attack counts only with a correct expected output (ATGEN's rule)."""
    return io_accurate and input_attack


@dataclass(frozen=True)
class PairVerdict:
    """How one generated pair fared; `parsed` False when there was no pair to run."""

    parsed: bool
    valid_input: bool = False
    io_accurate: bool = False
    input_attack: bool = False

    @property
    def attack(self) -> bool:
        return paid_attack(self.io_accurate, self.input_attack)


def pair_verdict(gold: Execution, buggy: Execution, test: Test, kind: str) -> PairVerdict:
    """The decision from gold's and the buggy code's runs on the test's input."""
    if not completed(gold):
        return PairVerdict(parsed=True)
    return PairVerdict(
        parsed=True,
        valid_input=True,
        io_accurate=passes(gold, test=test, kind=kind),
        input_attack=not passes(buggy, test=Test(test.input, gold.output), kind=kind),
    )


@dataclass(frozen=True)
class PairCheck:
    """One generated pair for one (task, buggy code); `test` is None when nothing parsed."""

    task: Task
    buggy_code: str
    test: Test | None


def pair_verdicts(
    executor: Executor,
    checks: Sequence[PairCheck],
    *,
    limits: Limits | None = None,
    progress: Progress | None = None,
) -> tuple[list[PairVerdict], int]:
    """Every pair's verdict, gold and buggy runs together in one batch; and the runs made.

    An input over the size cap is invalid without being run.
    """
    batch = Batch(limits)
    slots: list[tuple[int, int] | None] = []
    for check in checks:
        test = check.test
        if test is None or not runnable(test.to_dict(), check.task.kind):
            slots.append(None)
            continue
        slots.append(
            (
                batch.add(gold_program(check.task), test.input),
                batch.add(program(check.task, check.buggy_code), test.input),
            )
        )
    results = batch.run(executor)
    if progress:
        progress(len(checks), len(checks))
    verdicts = []
    for check, slot in zip(checks, slots, strict=True):
        if check.test is None:
            verdicts.append(PairVerdict(parsed=False))
        elif slot is None:
            verdicts.append(PairVerdict(parsed=True))
        else:
            verdicts.append(pair_verdict(results[slot[0]], results[slot[1]], check.test, check.task.kind))
    return verdicts, len(results)
