"""UTRL's two rewards exactly as the authors' `reward.py` computes them (`--paper utrl`).

Parser, judge and language sniffing come from `atest.core.paper.utrl`; the arithmetic here
follows `discrimination_reward_stdio_iter_1` and `solution_generation_reward_stdio`. The
components carry the authors' names (including their spelling `brievity_penalty`) so a
row can be compared with their logs key by key. docs/rewards.md lists how each rule
differs from atest's.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass

from atest.core.checking import Batch, Test, as_tests, gold_program
from atest.core.paper import utrl as paper
from atest.core.rewards.common import RewardResult
from atest.core.rewards.utrl import UtrlCodeItem, UtrlTestItem
from atest.core.sandbox import Execution, Executor, Limits, Program

MIN_TESTS = 12.0  # the validity clip's denominator floor
PASS_RATE_EPSILON = 1e-6  # added to the code reward's denominator by the authors


Slot = tuple[Batch, int] | None  # a run in one round's batch; None: not run as Python 3


class _Runs:
    """Rounds of batched runs; the authors' verdict for each."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.batch = Batch(limits)

    def add(self, prog: Program | None, value: str) -> Slot:
        return None if prog is None else (self.batch, self.batch.add(prog, value))

    def run(self, executor: Executor) -> None:
        """Run this round's batch and open the next round."""
        self.batch.run(executor)
        self.batch = Batch(self.limits)

    @staticmethod
    def passes(slot: Slot, test: Test) -> bool:
        execution: Execution | None = None if slot is None else slot[0][slot[1]]
        return paper.passes(execution, test=test)


@dataclass
class _TestPlan:
    item: UtrlTestItem
    n_parsed: int
    unique: list[Test]
    fmt: float
    gold_slots: list[Slot]
    valid: list[int] | None = None


def score_utrl_tests_paper(
    executor: Executor, items: Sequence[UtrlTestItem], *, limits: Limits | None = None
) -> list[RewardResult]:
    """The authors' discrimination reward of every response: gold on every distinct test in
    one sandbox call, then every opponent on every valid test in a second one."""
    runs = _Runs(limits or Limits())
    plans = []
    for item in items:
        parsed = paper.parse_tests(item.response)
        unique = paper.unique_tests(parsed)
        gold = paper.program(item.task, gold_program(item.task).source)
        slots = [runs.add(gold, t.input) for t in unique]
        plans.append(
            _TestPlan(item, len(parsed), unique, paper.test_format(item.response, len(parsed)), slots)
        )
    runs.run(executor)
    opponent_slots: list[list[list[Slot]]] = []
    for plan in plans:
        plan.valid = [i for i, s in enumerate(plan.gold_slots) if runs.passes(s, plan.unique[i])]
        programs = [paper.program(plan.item.task, code) for code in plan.item.opponents]
        opponent_slots.append([[runs.add(p, plan.unique[i].input) for i in plan.valid] for p in programs])
    runs.run(executor)
    return [_test_result(plan, slots, runs) for plan, slots in zip(plans, opponent_slots, strict=True)]


def _test_result(plan: _TestPlan, slots: list[list[Slot]], runs: _Runs) -> RewardResult:
    n_unique, valid = len(plan.unique), plan.valid or []
    if n_unique == 0:
        return _test_reward(plan.fmt, plan.n_parsed, 0, 0.0, 0.0, 0.0, brevity=1.0, duplication=0.0)
    validity = len(valid) / n_unique
    clipped = len(valid) / max(MIN_TESTS, n_unique)
    discrimination = 0.0
    if valid:
        n_opponents = len(plan.item.opponents)
        if n_opponents == 0:
            return _failed()  # the authors divide by zero here and their bare `except` returns all zeros
        caught = sum(
            1
            for opponent in slots
            if any(not runs.passes(s, plan.unique[i]) for s, i in zip(opponent, valid, strict=True))
        )
        discrimination = caught / n_opponents
    return _test_reward(
        plan.fmt, plan.n_parsed, n_unique, clipped, validity, discrimination,
        brevity=1 / n_unique, duplication=1 - n_unique / plan.n_parsed,
    )  # fmt: skip


def _test_reward(
    fmt: float, n_parsed: int, n_unique: int, clipped: float, validity: float, discrimination: float,
    *, brevity: float, duplication: float,
) -> RewardResult:  # fmt: skip
    return RewardResult(
        score=0.1 * fmt + 0.85 * discrimination + 0.05 * clipped,
        components={
            "formatting_reward": fmt,
            "n_test_cases": float(n_parsed),
            "n_unique_test_cases": float(n_unique),
            "clipped_validity": clipped,
            "validity_ratio": validity,
            "entire_discrimination_reward": discrimination,
            "brievity_penalty": brevity,
            "duplication_penalty": duplication,
        },
    )


def _failed() -> RewardResult:
    return _test_reward(0.0, 0, 0, 0.0, 0.0, 0.0, brevity=0.0, duplication=0.0)


def syntax_ok(code: str) -> float:
    """1 when the code parses as Python (never executed), as the authors' logged metric."""
    try:
        ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return 0.0
    return 1.0


def score_utrl_code_paper(
    executor: Executor,
    items: Sequence[UtrlCodeItem],
    *,
    gold_tests: bool = False,
    limits: Limits | None = None,
) -> list[RewardResult]:
    """The authors' code reward: 0.9 * pass rate + 0.1 * format.

    With generated tests (`solution_generation_reward_stdio`) the tests gold fails are dropped
    first and the pass rate is passed / (valid + 1e-6). With `gold_tests`
    (`solution_generation_reward_gtut_stdio`) the first 12 tests are used unchecked, and an
    item with no test scores 0 everywhere (their thread pool refuses zero workers).
    """
    runs = _Runs(limits or Limits())
    plans = []
    for item in items:
        tests = as_tests(item.tests[:12] if gold_tests else item.tests)
        code = paper.extract_code(item.response)
        gold = None if gold_tests else paper.program(item.task, gold_program(item.task).source)
        gold_slots = [runs.add(gold, t.input) for t in tests]
        plans.append((item, tests, code, gold_slots))
    runs.run(executor)
    code_slots = []
    for item, tests, code, gold_slots in plans:
        keep = (
            list(range(len(tests)))
            if gold_tests
            else [i for i, s in enumerate(gold_slots) if runs.passes(s, tests[i])]
        )
        prog = paper.program(item.task, code)
        code_slots.append((keep, [runs.add(prog, tests[i].input) for i in keep]))
    runs.run(executor)
    results = []
    for (item, tests, code, _), (keep, slots) in zip(plans, code_slots, strict=True):
        if gold_tests and not tests:
            results.append(_code_reward(0.0, 0.0, 0.0, 0))
            continue
        passed = sum(runs.passes(s, tests[i]) for s, i in zip(slots, keep, strict=True))
        pass_rate = passed / (len(keep) + PASS_RATE_EPSILON)
        results.append(_code_reward(pass_rate, paper.code_format(item.response), syntax_ok(code), len(keep)))
    return results


def _code_reward(pass_rate: float, fmt: float, syntax: float, n_tests: int) -> RewardResult:
    return RewardResult(
        score=0.9 * pass_rate + 0.1 * fmt,
        components={
            "pass_rate": pass_rate,
            "formatting_reward": fmt,
            "syntax_correctness": syntax,
            "n_tests": float(n_tests),
        },
    )
