"""Running many programs against their tests with early stopping, in a few large batches.

Often only "does it fail any test, and which first" matters (mutants on gold tests, opponents
on a response's valid tests), and most wrong programs fail one of the first few tests, while
one stuck in a loop costs a full time limit per test. So all programs advance together
through test stages (by default the first test, the next three, the next twelve, then the
rest): after each stage only the programs that passed everything so far go on. Each stage is
one `Batch`, so the executor can keep every core busy and units that share a run share it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from atest.core.checking.record import Test
from atest.core.checking.runs import Batch, Progress, verdict
from atest.core.rules import ATEST, Rules
from atest.core.sandbox import Executor, Limits, Program, Verdict

STAGE_ENDS: tuple[int, ...] = (1, 4, 16)


@dataclass(frozen=True)
class Unit:
    """One program to be judged on an ordered list of tests."""

    program: Program
    tests: Sequence[Test]
    limits: Limits


@dataclass(frozen=True)
class Failure:
    """The first test (by index) a program did not pass, and how it failed."""

    test_index: int
    verdict: Verdict


def _stages(n_tests: int, ends: Sequence[int]) -> list[tuple[int, int]]:
    bounds = [0, *[e for e in ends if e < n_tests], n_tests]
    return [(a, b) for a, b in itertools.pairwise(bounds) if a < b]


def first_failures(
    executor: Executor,
    units: Sequence[Unit],
    *,
    stage_ends: Sequence[int] = STAGE_ENDS,
    progress: Progress | None = None,
    rules: Rules = ATEST,
) -> list[Failure | None]:
    """For each unit, its first failing test (judged by `rules`), or None when it passes every test."""
    results: list[Failure | None] = [None] * len(units)
    plans = [_stages(len(u.tests), stage_ends) for u in units]
    alive = [i for i, plan in enumerate(plans) if plan]
    total = sum(len(u.tests) for u in units)
    done = 0
    stage = 0
    while alive:
        batch = Batch()
        owners: list[tuple[int, int, int]] = []
        for i in alive:
            start, end = plans[i][stage]
            unit = units[i]
            owners.extend(
                (i, t, batch.add(unit.program, unit.tests[t].input, unit.limits)) for t in range(start, end)
            )
        batch.run(executor)
        for i, t, slot in owners:
            earlier = results[i]
            if earlier is not None and earlier.test_index < t:
                continue
            found = verdict(batch[slot], test=units[i].tests[t], kind=units[i].program.kind, rules=rules)
            if found is not Verdict.ACCEPTED:
                results[i] = Failure(t, found)
        done += len(owners)
        still: list[int] = []
        for i in alive:
            if results[i] is None and stage + 1 < len(plans[i]):
                still.append(i)
            else:
                done += len(units[i].tests) - plans[i][stage][1]  # tests it no longer needs
        if progress:
            progress(done, total)
        alive = still
        stage += 1
    return results
