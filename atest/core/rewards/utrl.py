"""UTRL's two rewards: discrimination for the test generator, pass rate for the code generator.

Test generator, per response (docs/rewards.md, "UTRL test generator"):
    score = format_weight * format + discrimination_weight * discrimination
            + validity_weight * n_valid / max(n_tests, tests parsed)
where a test is valid when the task's first gold solution, run on its input, produces its
output; discrimination is the fraction of opponents that fail at least one valid test (a crash
or time-out counts as failing). A response with no parsed test scores 0, format included.

Code generator, per response: code_pass_weight * pass rate on the valid tests +
code_format_weight * format, and only the format term when there is no valid test to pass.

Both take a `rules` object (`atest.core.rules`): atest's own (the default) or `UTRL`, the
authors' code's (`--paper utrl`: their parser, format checks, code cut, judge, component names
and quirks, docs/rewards.md). The weights are the config's under both.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from atest.core.checking import (
    Batch,
    Test,
    Unit,
    as_tests,
    check_task,
    distinct_tests,
    first_failures,
    gold_program,
    passes,
    program_under,
    runnable,
    well_formed,
)
from atest.core.paper import utrl as authors
from atest.core.parsing import code_well_formed, extract_code, parse_tests
from atest.core.rewards.common import RewardResult
from atest.core.rules import ATEST, Rules
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
    tests: list[Test]  # the distinct tests (by `rules.duplicates`)
    n_parsed: int  # tests the parser read, duplicates included
    fmt: float
    gold_slots: list[int | None]  # None: not run (input over the size cap, or gold not run)
    opponents: list[Program | None]  # None: not run as Python 3 under the rules (fails every test)
    correct_slots: list[list[int]]  # per opponent, its slots on the gold tests (when excluding)
    valid: list[int] = field(default_factory=list)  # indices of the tests gold passes
    targets: list[int] = field(default_factory=list)  # the opponents that count
    detected: int = 0


def score_utrl_tests(
    executor: Executor,
    items: Sequence[UtrlTestItem],
    config: UtrlRewardConfig,
    *,
    rules: Rules = ATEST,
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
    limits = limits or rules.limits
    batch = Batch(limits)
    plans = [_plan(item, batch, exclude_correct_opponents, rules) for item in items]
    batch.run(executor)
    for plan in plans:
        plan.valid = _valid_tests(plan, batch, rules)
        plan.targets = _targets(plan, batch, rules)
    _count_detected(executor, plans, limits, rules)
    return [_score_tests(plan, config, rules) for plan in plans]


def _read(response: str, kind: str, rules: Rules) -> tuple[list[Test], list[bool], int, float]:
    """(distinct tests, whether each may run, tests parsed, format) of one response."""
    if rules.parser == "utrl":
        parsed = authors.parse_tests(response)
        tests = distinct_tests(parsed, by=rules.duplicates)
        fmt = authors.test_format(response, len(parsed)) if rules.test_format == "utrl" else 0.0
        ok = [runnable(t.to_dict(), kind) if rules.input_cap else True for t in tests]
        return tests, ok, len(parsed), fmt
    result = parse_tests(response, kind, template="utrl-test")
    rows = distinct_tests(result.tests, by=rules.duplicates)
    tests = as_tests(rows)
    ok = [runnable(row, kind) if rules.input_cap else well_formed(row, kind) for row in rows]
    fmt = 1.0 if result.well_formed and tests else 0.0
    if rules.test_format == "utrl":
        fmt = authors.test_format(response, len(result.tests))
    return tests, ok, len(result.tests), fmt


def _plan(item: UtrlTestItem, batch: Batch, exclude_correct: bool, rules: Rules) -> _TestPlan:
    task = item.task
    check_task(task, rules)
    tests, ok, n_parsed, fmt = _read(item.response, task.kind, rules)
    gold = program_under(rules, task, gold_program(task).source)
    gold_slots = [
        batch.add(gold, t.input) if may_run and gold is not None else None
        for t, may_run in zip(tests, ok, strict=True)
    ]
    opponents = [program_under(rules, task, code) for code in item.opponents]
    correct_slots: list[list[int]] = []
    if exclude_correct and task.gold_tests and tests:
        gold_tests = as_tests(task.gold_tests)
        correct_slots = [[] if p is None else [batch.add(p, t.input) for t in gold_tests] for p in opponents]
    return _TestPlan(item, tests, n_parsed, fmt, gold_slots, opponents, correct_slots)


def _valid_tests(plan: _TestPlan, batch: Batch, rules: Rules) -> list[int]:
    kind = plan.item.task.kind
    return [
        i
        for i, (t, slot) in enumerate(zip(plan.tests, plan.gold_slots, strict=True))
        if slot is not None and passes(batch[slot], test=t, kind=kind, rules=rules)
    ]


def _targets(plan: _TestPlan, batch: Batch, rules: Rules) -> list[int]:
    """The opponents that count: all, or those failing some gold test when excluding correct ones."""
    task = plan.item.task
    if not plan.correct_slots:
        return list(range(len(plan.item.opponents)))
    gold_tests = as_tests(task.gold_tests)
    return [
        i
        for i, slots in enumerate(plan.correct_slots)
        if not slots
        or not all(
            passes(batch[s], test=g, kind=task.kind, rules=rules)
            for s, g in zip(slots, gold_tests, strict=True)
        )
    ]


def _count_detected(executor: Executor, plans: list[_TestPlan], limits: Limits, rules: Rules) -> None:
    """Set each plan's number of target opponents that fail at least one of its valid tests."""
    owners, units = [], []
    for plan in plans:
        for i in plan.targets:
            opponent = plan.opponents[i]
            if opponent is None:  # never run: it fails every test, so any valid test catches it
                plan.detected += bool(plan.valid)
                continue
            owners.append(plan)
            units.append(Unit(opponent, [plan.tests[j] for j in plan.valid], limits))
    failures = first_failures(executor, units, stage_ends=DOUBLING, rules=rules)
    for plan, failure in zip(owners, failures, strict=True):
        if failure is not None:
            plan.detected += 1


def _score_tests(plan: _TestPlan, config: UtrlRewardConfig, rules: Rules) -> RewardResult:
    n_tests, n_valid, n_targets = len(plan.tests), len(plan.valid), len(plan.targets)
    if rules.no_opponent_zeroes_all and n_valid and not n_targets:
        return _test_result(rules, plan, 0.0, fmt=0.0, discrimination=0.0, validity=0.0, empty=True)
    discrimination = plan.detected / n_targets if n_targets and n_valid else 0.0
    validity = min(1.0, n_valid / max(config.n_tests, n_tests, 1))
    # No parsed test: atest's format is 0 then (so is the score); the authors' can be 1.
    score = (
        config.format_weight * plan.fmt
        + config.discrimination_weight * discrimination
        + config.validity_weight * validity
    )
    return _test_result(rules, plan, score, fmt=plan.fmt, discrimination=discrimination, validity=validity)


def _test_result(
    rules: Rules, plan: _TestPlan, score: float, *, fmt: float, discrimination: float, validity: float,
    empty: bool = False,
) -> RewardResult:  # fmt: skip
    n_tests, n_valid, n_targets = len(plan.tests), len(plan.valid), len(plan.targets)
    if rules.components == "utrl":  # the authors' names (and spelling), so rows compare with their logs
        if empty:  # their `except` returns zeros for every key
            n_parsed = n_tests = n_valid = 0
            brevity = duplication = 0.0
        else:
            n_parsed = plan.n_parsed
            brevity = 1 / n_tests if n_tests else 1.0
            duplication = 1 - n_tests / n_parsed if n_tests else 0.0
        return RewardResult(
            score=score,
            components={
                "formatting_reward": fmt,
                "n_test_cases": float(n_parsed),
                "n_unique_test_cases": float(n_tests),
                "clipped_validity": validity,
                "validity_ratio": n_valid / n_tests if n_tests else 0.0,
                "entire_discrimination_reward": discrimination,
                "brievity_penalty": brevity,
                "duplication_penalty": duplication,
            },
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


def syntax_ok(code: str) -> float:
    """1 when the code parses as Python (never executed), as the authors' logged metric."""
    try:
        ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return 0.0
    return 1.0


def score_utrl_code(
    executor: Executor,
    items: Sequence[UtrlCodeItem],
    config: UtrlRewardConfig,
    *,
    rules: Rules = ATEST,
    gold_tests: bool = False,
    limits: Limits | None = None,
) -> list[RewardResult]:
    """The code generator's reward, from one batched sandbox call.

    The tests are checked against gold in the same call as the code runs on them, so a test
    that is not valid never counts even if the caller passed it in. With `gold_tests` (the
    authors' `solution_generation_reward_gtut_stdio`: the tests are the task's gold tests) the
    first `config.n_tests` are used unchecked, and an item with no test scores 0 everywhere
    (their thread pool refuses zero workers).
    """
    batch = Batch(limits or rules.limits)
    plans = []
    for item in items:
        task = item.task
        check_task(task, rules)
        # The authors' code runs every test it is given; atest's only the usable ones.
        rows = [t for t in item.tests if runnable(t, task.kind)] if rules.input_cap else list(item.tests)
        if gold_tests:
            rows = rows[: config.n_tests]
        tests = as_tests(rows) if rules.duplicates == "test" else distinct_tests(as_tests(rows), by="input")
        code = _code(item.response, rules)
        gold = None if gold_tests else program_under(rules, task, gold_program(task).source)
        gold_slots = [None if gold is None else batch.add(gold, t.input) for t in tests]
        candidate = None if code is None else program_under(rules, task, code)
        code_slots = [None if candidate is None else batch.add(candidate, t.input) for t in tests]
        plans.append((item, tests, gold_slots, code_slots, code))
    batch.run(executor)
    results = []
    for item, tests, gold_slots, code_slots, code in plans:
        kind = item.task.kind
        if gold_tests and not tests:
            results.append(_code_result(rules, 0.0, 0.0, 0, code, empty=True))
            continue
        valid = [
            i
            for i, (t, s) in enumerate(zip(tests, gold_slots, strict=True))
            if gold_tests or (s is not None and passes(batch[s], test=t, kind=kind, rules=rules))
        ]
        passed = sum(
            1
            for i in valid
            if code_slots[i] is not None
            and passes(batch[code_slots[i]], test=tests[i], kind=kind, rules=rules)
        )
        pass_rate = passed / (len(valid) + rules.pass_rate_epsilon) if valid else 0.0
        if rules.code_format == "utrl":
            fmt = authors.code_format(item.response)
        else:
            fmt = 1.0 if code_well_formed(item.response) else 0.0
        score = config.code_pass_weight * pass_rate + config.code_format_weight * fmt
        results.append(_code_result(rules, score, pass_rate, len(valid), code, fmt=fmt))
    return results


def _code(response: str, rules: Rules) -> str | None:
    """The code of a response: atest's last python block (None without one), or the authors' cut."""
    return authors.extract_code(response) if rules.code_extraction == "utrl" else extract_code(response)


def _code_result(
    rules: Rules, score: float, pass_rate: float, n_valid: int, code: str | None, *, fmt: float = 0.0,
    empty: bool = False,
) -> RewardResult:  # fmt: skip
    if rules.components == "utrl":
        return RewardResult(
            score=score,
            components={
                "pass_rate": pass_rate,
                "formatting_reward": fmt,
                "syntax_correctness": 0.0 if empty or code is None else syntax_ok(code),
                "n_tests": float(n_valid),
            },
        )
    return RewardResult(
        score=score,
        components={
            "format": fmt,
            "pass_rate": pass_rate,
            "n_valid": float(n_valid),
            "has_code": float(code is not None),
        },
    )
