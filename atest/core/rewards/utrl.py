"""UTRL's two rewards: discrimination for the test generator, pass rate for the code generator.

Test generator, per response (docs/rewards.md, "UTRL test generator"):
    score = format_weight * format + discrimination_weight * discrimination
            + validity_weight * n_valid / max(n_tests, tests parsed)
where a test is valid when the task's first gold solution, run on its input, produces its
output; discrimination is the fraction of opponents that fail at least one valid test (a crash
or time-out counts as failing). A response with no parsed test scores 0, format included.

Code generator, per response: code_pass_weight * pass rate on the valid tests +
code_format_weight * format, and only the format term when there is no valid test to pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from atest.core.checking import (
    Batch,
    Test,
    Unit,
    as_tests,
    distinct_tests,
    first_failures,
    gold_program,
    passes,
    program,
    runnable,
)
from atest.core.parsing import code_well_formed, extract_code, parse_tests
from atest.core.rewards.common import RewardResult
from atest.core.sandbox import Executor, Limits, Program
from atest.core.tasks import Task

DOUBLING = tuple(2**k - 1 for k in range(1, 21))  # test rounds of 1, 2, 4, ... (up to a million tests)


class UtrlRewardConfig(BaseModel):
    """The settings of both UTRL rewards, with the paper's values as defaults.

    The training config's `utrl` section extends this model, so each setting is declared here
    once, under the key a config file writes (`utrl.format_weight`, `utrl.n_tests`, ...), and
    the training reward functions score with the section itself.
    """

    model_config = ConfigDict(extra="forbid")

    format_weight: float = 0.1
    discrimination_weight: float = 0.85
    validity_weight: float = 0.05
    # The tests a response is asked for, and the validity clip: full marks need this many valid tests.
    n_tests: int = Field(12, ge=1)
    code_pass_weight: float = 0.9
    code_format_weight: float = 0.1


@dataclass
class UtrlTestItem:
    task: Task
    response: str
    opponents: list[str] = field(default_factory=list)


@dataclass
class _TestPlan:
    item: UtrlTestItem
    tests: list[Test]
    well_formed: bool
    gold_slots: list[int | None]  # None: not run (input over the size cap)
    opponents: list[Program]
    correct_slots: list[list[int]]  # per opponent, its slots on the gold tests (when excluding)
    valid: list[int] = field(default_factory=list)  # indices of the tests gold passes
    targets: list[int] = field(default_factory=list)  # the opponents that count
    detected: int = 0


def score_utrl_tests(
    executor: Executor,
    items: Sequence[UtrlTestItem],
    config: UtrlRewardConfig,
    *,
    limits: Limits | None = None,
    exclude_correct_opponents: bool = False,
) -> list[RewardResult]:
    """The discrimination reward of every response, from a few batched sandbox calls.

    First gold runs on every distinct generated input of the batch (with
    `exclude_correct_opponents`, the opponents run on the gold tests in the same call and those
    passing every one leave the denominator: they may be correct, and no valid test can then
    fail them; training filters its opponents once when it samples them instead); then the
    opponents run on valid tests only, in rounds of 1, 2, 4, ... tests, and each stops at its
    first failed test: the reward only needs to know whether it fails one.
    """
    limits = limits or Limits()
    batch = Batch(limits)
    plans = [_plan(item, batch, exclude_correct_opponents) for item in items]
    batch.run(executor)
    for plan in plans:
        plan.valid = _valid_tests(plan, batch)
        plan.targets = _targets(plan, batch)
    _count_detected(executor, plans, limits)
    return [_score_tests(plan, config) for plan in plans]


def _plan(item: UtrlTestItem, batch: Batch, exclude_correct: bool) -> _TestPlan:
    task = item.task
    parsed = parse_tests(item.response, task.kind, template="utrl-test")
    tests = as_tests(parsed.tests)
    gold = gold_program(task)
    gold_slots = [
        batch.add(gold, t.input) if runnable(row, task.kind) else None
        for t, row in zip(tests, parsed.tests, strict=True)
    ]
    opponents = [program(task, code) for code in item.opponents]
    correct_slots: list[list[int]] = []
    if exclude_correct and task.gold_tests and tests:
        correct_slots = [[batch.add(p, t.input) for t in as_tests(task.gold_tests)] for p in opponents]
    return _TestPlan(item, tests, parsed.well_formed, gold_slots, opponents, correct_slots)


def _valid_tests(plan: _TestPlan, batch: Batch) -> list[int]:
    kind = plan.item.task.kind
    return [
        i
        for i, (t, slot) in enumerate(zip(plan.tests, plan.gold_slots, strict=True))
        if slot is not None and passes(batch[slot], test=t, kind=kind)
    ]


def _targets(plan: _TestPlan, batch: Batch) -> list[int]:
    """The opponents that count: all, or those failing some gold test when excluding correct ones."""
    task = plan.item.task
    if not plan.correct_slots:
        return list(range(len(plan.item.opponents)))
    gold_tests = as_tests(task.gold_tests)
    return [
        i
        for i, slots in enumerate(plan.correct_slots)
        if not all(passes(batch[s], test=g, kind=task.kind) for s, g in zip(slots, gold_tests, strict=True))
    ]


def _count_detected(executor: Executor, plans: list[_TestPlan], limits: Limits) -> None:
    """Set each plan's number of target opponents that fail at least one of its valid tests."""
    owners = [plan for plan in plans for _ in plan.targets]
    units = [
        Unit(plan.opponents[i], [plan.tests[j] for j in plan.valid], limits)
        for plan in plans
        for i in plan.targets
    ]
    for plan, failure in zip(owners, first_failures(executor, units, stage_ends=DOUBLING), strict=True):
        if failure is not None:
            plan.detected += 1


def _score_tests(plan: _TestPlan, config: UtrlRewardConfig) -> RewardResult:
    n_tests, n_valid, n_targets = len(plan.tests), len(plan.valid), len(plan.targets)
    discrimination = plan.detected / n_targets if n_targets else 0.0
    validity = min(1.0, n_valid / max(config.n_tests, n_tests, 1))
    fmt = 1.0 if plan.well_formed and n_tests else 0.0
    score = (
        config.format_weight * fmt
        + config.discrimination_weight * discrimination
        + config.validity_weight * validity
        if n_tests
        else 0.0
    )
    return RewardResult(
        score=score,
        components={
            "format": fmt,
            "discrimination": discrimination,
            "validity": validity,
            "n_tests": float(n_tests),
            "n_valid": float(n_valid),
            "opponents": float(n_targets),
            "opponents_excluded": float(len(plan.item.opponents) - n_targets),
            "detected": float(plan.detected),
        },
    )


@dataclass
class UtrlCodeItem:
    task: Task
    response: str
    tests: list[Any] = field(default_factory=list)  # JSON objects as the caller has them, checked here


def score_utrl_code(
    executor: Executor,
    items: Sequence[UtrlCodeItem],
    config: UtrlRewardConfig,
    *,
    limits: Limits | None = None,
) -> list[RewardResult]:
    """The code generator's reward, from one batched sandbox call.

    The tests are checked against gold in the same call as the code runs on them, so a test
    that is not valid never counts even if the caller passed it in.
    """
    batch = Batch(limits or Limits())
    plans = []
    for item in items:
        task = item.task
        gold = gold_program(task)
        code = extract_code(item.response)
        tests = distinct_tests(as_tests(t for t in item.tests if runnable(t, task.kind)), by="input")
        gold_slots = [batch.add(gold, t.input) for t in tests]
        code_slots = [batch.add(program(task, code), t.input) for t in tests] if code else []
        plans.append((item, tests, gold_slots, code_slots, code is not None))
    batch.run(executor)
    results = []
    for item, tests, gold_slots, code_slots, has_code in plans:
        kind = item.task.kind
        valid = [
            i
            for i, (t, s) in enumerate(zip(tests, gold_slots, strict=True))
            if passes(batch[s], test=t, kind=kind)
        ]
        passed = sum(
            1 for i in valid if code_slots and passes(batch[code_slots[i]], test=tests[i], kind=kind)
        )
        pass_rate = passed / len(valid) if valid else 0.0
        fmt = 1.0 if code_well_formed(item.response) else 0.0
        score = config.code_pass_weight * pass_rate + config.code_format_weight * fmt
        results.append(
            RewardResult(
                score=score,
                components={
                    "format": fmt,
                    "pass_rate": pass_rate,
                    "n_valid": float(len(valid)),
                    "has_code": float(has_code),
                },
            )
        )
    return results
