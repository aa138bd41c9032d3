"""Running programs on tests in one batched sandbox call, and judging the results.

Every check gathers the (program, input, limits) runs it needs into a `Batch`, where identical
runs (the same gold on the same input from eight responses of one GRPO group, the same
opponent on the same test) share one slot, and sends them to the executor in a single
`executor.run` call so its workers run them in parallel. Outputs are compared here, in the
supervisor, never inside the sandboxed process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from atest.core.checking.record import Test
from atest.core.errors import InputError
from atest.core.rules import ATEST, Rules
from atest.core.sandbox import Execution, Executor, Job, Limits, Program, Status, Verdict, input_key, judge
from atest.core.tasks import Task

Progress = Callable[[int, int], None]


def verdict(execution: Execution | None, *, test: Test, kind: str, rules: Rules = ATEST) -> Verdict:
    """How one run did on one test: accepted, wrong answer, or the limit it hit.

    The one pass/fail decision: `passes` is this verdict being ACCEPTED. Under `rules`:
    `compare` (token-wise with float tolerance, or the authors' stripped text),
    `require_empty_stderr` (anything on stderr is a runtime error) and `require_output` (an
    empty stdout is a wrong answer). None is a program that was never run (the authors'
    runner takes the code for another language): a runtime error.
    """
    if execution is None:
        return Verdict.RUNTIME_ERROR
    if execution.status is not Status.OK:
        return judge(execution, test.output, kind)
    if rules.require_empty_stderr and execution.stderr_tail != "":
        return Verdict.RUNTIME_ERROR
    got = execution.output
    if rules.require_output and not (isinstance(got, str) and got.strip()):
        return Verdict.WRONG_ANSWER
    if rules.compare == "text":
        same = isinstance(got, str) and got.strip() == str(test.output).strip()
        return Verdict.ACCEPTED if same else Verdict.WRONG_ANSWER
    return judge(execution, test.output, kind)


def passes(execution: Execution | None, *, test: Test, kind: str, rules: Rules = ATEST) -> bool:
    """The program ran to completion and produced the test's output.

    A crash, a time-out or any other limit counts as failing: a test that makes a wrong
    program crash has caught it (UTRL's runner counts it the same way).
    """
    return verdict(execution, test=test, kind=kind, rules=rules) is Verdict.ACCEPTED


def completed(execution: Execution) -> bool:
    """The program ran to completion within its limits, whatever it printed: the gold
    solution on a valid input (an input gold cannot complete on is invalid)."""
    return execution.status is Status.OK


def program(task: Task, source: str, rules: Rules = ATEST) -> Program:
    """`source` as a program for this task (its kind and entry point), run by the harness rules
    of `rules` (stdin, prelude)."""
    return Program(source, task.kind, task.fn_name, rules.harness)


def check_task(task: Task, rules: Rules = ATEST) -> None:
    """Refuse a task `rules` cannot score (the UTRL authors' code runs stdio tasks only)."""
    if rules.stdio_only and task.kind != "stdio":
        raise InputError(
            f"task {task.task_id!r} is {task.kind}: {rules.name.upper()}'s rules cover stdio tasks only",
            f"drop --paper {rules.name} for it",
        )


def program_under(rules: Rules, task: Task, source: str) -> Program | None:
    """`source` as `rules` run it for `task`; None when they would not run it as Python 3
    (the authors' sniffer takes it for another language), so it fails every test."""
    check_task(task, rules)
    if rules.language_sniffing:
        from atest.core.paper import utrl as authors

        if authors.language(source) not in ("python3", "python"):
            return None
    return program(task, source, rules)


def gold_program(task: Task) -> Program:
    """The task's first gold solution: the judge of every generated test's validity."""
    if not task.gold_solutions:
        raise InputError(
            f"task {task.task_id!r} has no gold solution",
            "generated tests are judged against it; drop the task or add one",
        )
    return program(task, task.gold_solutions[0])


class Batch:
    """Runs to make together; adding the same (program, input, limits) twice returns the same slot."""

    def __init__(self, limits: Limits | None = None):
        self.limits = limits or Limits()
        self.jobs: list[Job] = []
        self._slots: dict[tuple[str, str, Limits], int] = {}
        self.results: list[Execution] = []

    def add(self, prog: Program, value: Any, limits: Limits | None = None) -> int:
        limits = limits or self.limits
        key = (prog.key, input_key(value), limits)
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = len(self.jobs)
            self.jobs.append(Job(prog, value, limits))
        return slot

    def run(self, executor: Executor) -> list[Execution]:
        """One executor call (none for an empty batch); the results, by slot."""
        self.results = executor.run(self.jobs) if self.jobs else []
        return self.results

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, slot: int) -> Execution:
        return self.results[slot]


def run_inputs(executor: Executor, prog: Program, inputs: Sequence[Any], limits: Limits) -> list[Execution]:
    """`prog` on each input (one batch, a repeated input run once); the results, in order."""
    batch = Batch(limits)
    slots = [batch.add(prog, value) for value in inputs]
    batch.run(executor)
    return [batch[slot] for slot in slots]


@dataclass(frozen=True)
class CodeCheck:
    """Run `code` (a program for `task`) on `tests`, comparing with each test's output."""

    task: Task
    code: str
    tests: Sequence[Test]


def pass_matrix(executor: Executor, checks: Sequence[CodeCheck], limits: Limits) -> list[list[bool]]:
    """For each check, whether the code passes each of its tests (one batch)."""
    batch = Batch(limits)
    slots = [[batch.add(program(c.task, c.code), t.input) for t in c.tests] for c in checks]
    batch.run(executor)
    return [
        [passes(batch[s], test=t, kind=c.task.kind) for s, t in zip(row, c.tests, strict=True)]
        for c, row in zip(checks, slots, strict=True)
    ]
