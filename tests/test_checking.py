"""The checking layer: the verdict, batched runs, early stopping, the pass matrix, and test identity."""

from __future__ import annotations

import pytest

from atest.core.checking import (
    Batch,
    CodeCheck,
    Test,
    Unit,
    as_tests,
    distinct_tests,
    first_failures,
    gold_program,
    pass_matrix,
    passes,
    runnable,
    well_formed,
)
from atest.core.errors import InputError
from atest.core.sandbox import Execution, Limits, Program, Status, Verdict, get_executor
from atest.core.tasks import Task

TESTS = as_tests({"input": [i], "output": 2 * i} for i in range(1, 21))
LIMITS = Limits(cpu_seconds=0.3)
DOUBLE = Task(
    task_id="double",
    question="Return twice x.",
    kind="functional",
    fn_name="f",
    gold_solutions=["class Solution:\n    def f(self, x: int) -> int:\n        return x * 2\n"],
    gold_tests=[t.to_dict() for t in TESTS[:3]],
)


def program(body: str) -> Program:
    return Program(f"class Solution:\n    def f(self, x: int) -> int:\n{body}", "functional", "f")


@pytest.fixture(scope="module")
def executor():
    with get_executor(workers=2) as ex:
        yield ex


class CountingExecutor:
    """Counts the executions asked for, to check that batching and early stopping save them."""

    def __init__(self, inner):
        self.inner = inner
        self.jobs = 0
        self.calls = 0

    def run(self, jobs):
        self.jobs += len(jobs)
        self.calls += 1
        return self.inner.run(jobs)


def test_passes_needs_a_clean_run_and_the_tests_output():
    ok = Execution(Status.OK, "3\n")
    assert passes(ok, test=Test("1 2", "3"), kind="stdio")
    assert not passes(ok, test=Test("1 2", "4"), kind="stdio")
    assert not passes(Execution(Status.TIME_LIMIT, None), test=Test("1 2", "3"), kind="stdio")
    with pytest.raises(TypeError):
        passes(ok, Test("1 2", "3"), "stdio")  # type: ignore[misc]  # keyword-only: no silent mix-up


def test_batch_gives_one_slot_per_program_input_and_limits(executor):
    counting = CountingExecutor(executor)
    batch = Batch(LIMITS)
    double, triple = program("        return x * 2\n"), program("        return x * 3\n")
    slots = [batch.add(double, [2]), batch.add(double, [2]), batch.add(triple, [2])]
    other_limits = batch.add(double, [2], Limits(cpu_seconds=0.5))
    assert slots[0] == slots[1] != slots[2] and other_limits not in slots and len(batch) == 3
    batch.run(counting)
    assert (counting.calls, counting.jobs) == (1, 3)
    assert [batch[s].output for s in slots] == [4, 4, 6]
    assert Batch().run(counting) == [] and counting.calls == 1  # an empty batch never reaches it


def test_gold_program_is_the_first_gold_solution_and_names_a_task_without_one():
    assert gold_program(DOUBLE).source == DOUBLE.gold_solutions[0]
    with pytest.raises(InputError, match="'none' has no gold solution"):
        gold_program(Task("none", "q", "stdio", [], []))


def test_first_failures_stop_early_and_name_the_verdict(executor):
    counting = CountingExecutor(executor)
    units = [
        Unit(program("        return x * 2\n"), TESTS, LIMITS),  # passes all 20
        Unit(program("        return x + x if x < 7 else 0\n"), TESTS, LIMITS),  # fails test 6
        Unit(program("        return 1 // 0\n"), TESTS, LIMITS),
        Unit(program("        while True:\n            pass\n"), TESTS, LIMITS),
    ]
    results = first_failures(counting, units)
    assert results[0] is None
    assert (results[1].test_index, results[1].verdict) == (6, Verdict.WRONG_ANSWER)
    assert (results[2].test_index, results[2].verdict) == (0, Verdict.RUNTIME_ERROR)
    assert (results[3].test_index, results[3].verdict) == (0, Verdict.TIME_LIMIT)
    # 20 + 16 (stages 1, 4, 16) + 1 + 1 instead of 80
    assert counting.jobs == 38


def test_pass_matrix_judges_each_code_on_each_of_its_tests(executor):
    wrong = Test([4], 9)
    checks = [
        CodeCheck(DOUBLE, DOUBLE.gold_solutions[0], [*TESTS[:2], wrong]),
        CodeCheck(
            DOUBLE, "class Solution:\n    def f(self, x):\n        return 2 if x == 1 else 0\n", TESTS[:2]
        ),
        CodeCheck(DOUBLE, "x", []),
    ]
    assert pass_matrix(executor, checks, LIMITS) == [[True, True, False], [True, False], []]


def test_distinct_tests_by_input_or_by_input_and_output():
    rows = [
        {"input": {"a": 1, "b": 2}, "output": 3},
        {"input": {"b": 2, "a": 1}, "output": 3},  # the same JSON value, keys in another order
        {"input": {"a": 1, "b": 2}, "output": 4},
        {"input": {"a": 1, "b": 2.0}, "output": 3},  # 2.0 is not 2
    ]
    assert distinct_tests(rows, by="test") == [rows[0], rows[2], rows[3]]
    assert distinct_tests(rows, by="input") == [rows[0], rows[3]]
    assert distinct_tests(as_tests(rows), by="input") == [Test(*r.values()) for r in (rows[0], rows[3])]
    stdio = [Test("1", "1"), Test("1", "1\n"), Test("1\n", "1")]  # text compares exactly
    assert distinct_tests(stdio, by="test") == stdio


def test_a_usable_test_has_the_kinds_types_and_runnable_a_small_input():
    assert well_formed({"input": "1\n", "output": "2\n"}, "stdio")
    assert not well_formed({"input": [1], "output": "2"}, "stdio")
    assert well_formed({"input": [1], "output": None}, "functional")
    assert not well_formed({"input": "1", "output": 1}, "functional")
    assert not well_formed({"input": [1]}, "functional") and not well_formed(["1", "2"], "stdio")
    assert runnable({"input": "x" * 1000, "output": ""}, "stdio")
    assert not runnable({"input": "x" * 1_000_001, "output": ""}, "stdio")
    assert Test.from_dict({"input": [1], "output": 2, "note": "dropped"}).to_dict() == {
        "input": [1],
        "output": 2,
    }
