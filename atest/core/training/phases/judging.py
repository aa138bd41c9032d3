"""Batched program checks the loops need between steps (not rewards: those live in atest.core.rewards).

Both take and return tests as the loops keep them (JSON objects, written to their phase files)
and check them through `atest.core.checking.pass_matrix`: one `executor.run` call each.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from atest.core.checking import CodeCheck, as_tests, gold_program, pass_matrix
from atest.core.sandbox import Executor, Limits
from atest.core.tasks import Task


def valid_tests(
    executor: Executor, tasks: Sequence[Task], tests: Sequence[Sequence[dict[str, Any]]], limits: Limits
) -> list[list[dict[str, Any]]]:
    """Per task, the generated tests whose output the task's gold solution produces."""
    checks = [
        CodeCheck(task, gold_program(task).source, as_tests(rows))
        for task, rows in zip(tasks, tests, strict=True)
    ]
    verdicts = pass_matrix(executor, checks, limits)
    return [
        [t for t, ok in zip(rows, row, strict=True) if ok] for rows, row in zip(tests, verdicts, strict=True)
    ]


def correct_codes(
    executor: Executor, items: Sequence[tuple[Task, Sequence[str]]], limits: Limits
) -> list[list[bool]]:
    """Per task, which codes pass every gold test (False for every code of a task without gold tests)."""
    checks = [
        CodeCheck(task, code, as_tests(task.gold_tests))
        for task, codes in items
        if task.gold_tests
        for code in codes
    ]
    verdicts = iter(pass_matrix(executor, checks, limits))
    return [
        [all(next(verdicts)) for _ in codes] if task.gold_tests else [False] * len(codes)
        for task, codes in items
    ]
