"""Batched program checks the loops need between steps (not rewards: those live in atest.core.rewards).

Each function sends all its executions to the sandbox in one `executor.run` call; outputs are
compared here, in the supervisor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from atest.core.sandbox import Executor, Job, Limits, Program, Status, outputs_match
from atest.core.tasks import Task


@dataclass(frozen=True)
class CodeCheck:
    """Run `code` (a program for `task`) on `tests`, comparing with each test's output."""

    task: Task
    code: str
    tests: Sequence[dict[str, Any]]


def pass_matrix(executor: Executor, checks: Sequence[CodeCheck], limits: Limits) -> list[list[bool]]:
    """For each check, whether the code passes each of its tests."""
    jobs: list[Job] = []
    for check in checks:
        program = Program(check.code, check.task.kind, check.task.fn_name)
        jobs.extend(Job(program, test["input"], limits) for test in check.tests)
    results = executor.run(jobs) if jobs else []
    out: list[list[bool]] = []
    cursor = 0
    for check in checks:
        row = []
        for test in check.tests:
            execution = results[cursor]
            cursor += 1
            row.append(
                execution.status is Status.OK
                and outputs_match(check.task.kind, test["output"], execution.output)
            )
        out.append(row)
    return out


def valid_tests(
    executor: Executor, tasks: Sequence[Task], tests: Sequence[Sequence[dict[str, Any]]], limits: Limits
) -> list[list[dict[str, Any]]]:
    """Per task, the generated tests whose output the task's gold solution produces."""
    checks = [
        CodeCheck(task, task.gold_solutions[0], list(rows)) for task, rows in zip(tasks, tests, strict=True)
    ]
    verdicts = pass_matrix(executor, checks, limits)
    return [
        [t for t, ok in zip(c.tests, row, strict=True) if ok] for c, row in zip(checks, verdicts, strict=True)
    ]


def correct_codes(
    executor: Executor, items: Sequence[tuple[Task, Sequence[str]]], limits: Limits
) -> list[list[bool]]:
    """Per task, which codes pass every gold test (False for every code of a task without gold tests)."""
    checks = [
        CodeCheck(task, code, task.gold_tests) for task, codes in items if task.gold_tests for code in codes
    ]
    verdicts = iter(pass_matrix(executor, checks, limits))
    return [
        [all(next(verdicts)) for _ in codes] if task.gold_tests else [False] * len(codes)
        for task, codes in items
    ]
