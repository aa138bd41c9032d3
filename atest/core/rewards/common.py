"""What every reward shares: the result type, gold lookup, and one batched, deduplicated run.

Rewards are computed for a whole generation batch at once. Each reward gathers every
(program, input) execution its items need into a `Batch`, where identical pairs (the same
gold on the same input from eight responses of one GRPO group, the same opponent on the same
test) collapse into one job, and sends them to the sandbox in a single `executor.run` call, so
the executor's workers run them in parallel. Outputs are compared here, in the supervisor.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from atest.core.errors import InputError
from atest.core.sandbox import Execution, Executor, Job, Limits, Program, Status, input_key, outputs_match
from atest.core.tasks import Task

# A generated test whose input is larger than this is invalid without being run: no model writes
# such an input honestly within its token budget, and feeding it to every program costs time.
MAX_INPUT_CHARS = 1_000_000


@dataclass
class RewardResult:
    """One response's reward and the terms it was made of (logged as their batch means)."""

    score: float
    components: dict[str, float] = field(default_factory=dict)


def input_size(value: Any) -> int:
    return len(value) if isinstance(value, str) else len(json.dumps(value))


def runnable(test: Any, kind: str) -> bool:
    """A test the sandbox can run for this kind, with an input below the size cap."""
    if not isinstance(test, dict) or "input" not in test or "output" not in test:
        return False
    value = test["input"]
    if kind == "stdio":
        ok = isinstance(value, str) and isinstance(test["output"], str)
    else:
        ok = isinstance(value, (list, dict))
    return ok and input_size(value) <= MAX_INPUT_CHARS


def gold_program(task: Task) -> Program:
    """The task's first gold solution: the judge of every generated test's validity."""
    if not task.gold_solutions:
        raise InputError(
            f"task {task.task_id!r} has no gold solution",
            "rewards judge generated tests against it; drop the task or add one",
        )
    return Program(task.gold_solutions[0], task.kind, task.fn_name)


def program(task: Task, source: str) -> Program:
    return Program(source, task.kind, task.fn_name)


class Batch:
    """Executions to run together; adding a (program, input) pair twice returns the same slot."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.jobs: list[Job] = []
        self._slots: dict[tuple[str, str], int] = {}
        self.results: list[Execution] = []

    def add(self, prog: Program, value: Any) -> int:
        key = (prog.key, input_key(value))
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = len(self.jobs)
            self.jobs.append(Job(prog, value, self.limits))
        return slot

    def run(self, executor: Executor) -> None:
        self.results = executor.run(self.jobs) if self.jobs else []

    def __getitem__(self, slot: int) -> Execution:
        return self.results[slot]


def passes(execution: Execution, kind: str, expected: Any) -> bool:
    """The program ran to completion and produced the expected output.

    A crash, a time-out or any other limit counts as failing: a test that makes a wrong
    program crash has caught it (UTRL's runner counts it the same way).
    """
    return execution.status is Status.OK and outputs_match(kind, expected, execution.output)
