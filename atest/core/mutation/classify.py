"""Classifying each task's mutants by running them on the gold tests.

Per task: the gold solution runs on its gold tests first (tests it fails are dropped as
invalid, and its slowest passing run sets the mutants' time limit); then every mutant
runs on the valid gold tests with early stopping, and its first failing test decides
the outcome: `killed` (wrong answer), `crashed` (runtime error, memory or output limit),
`timed_out`, or `survived`. Survivors of functional tasks are then run on inputs derived
from the smaller half of the gold inputs (see `probes`, `_probe_bases`) and compared with the gold solution's output there:
`distinguished` means a bug the gold tests miss, `likely_equivalent` means no probe told
them apart, `unprobed` means no derived input was available (stdio tasks, or none the
gold solution accepts).

All tasks advance together, so the whole set costs a handful of executor batches.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

from atest.core.checking import (
    Batch,
    Progress,
    Test,
    Unit,
    as_tests,
    completed,
    first_failures,
    gold_program,
    passes,
    program,
)
from atest.core.mutation.generate import Mutant, generate_mutants
from atest.core.mutation.probes import derive_inputs
from atest.core.sandbox import Executor, Limits, Program, Verdict, limits_from_gold
from atest.core.tasks import Task

# A mutant stuck in a loop costs its whole time limit; gold LeetCode runs take milliseconds,
# so the floor, not the factor, sets most limits and dominates the cost of looping mutants.
TIME_FACTOR = 4.0
TIME_FLOOR = 0.25
N_PROBES = 20


class Outcome(str, Enum):
    KILLED = "killed"
    CRASHED = "crashed"
    TIMED_OUT = "timed_out"
    SURVIVED = "survived"


class Probe(str, Enum):
    DISTINGUISHED = "distinguished"
    LIKELY_EQUIVALENT = "likely_equivalent"
    UNPROBED = "unprobed"


_OUTCOME_OF = {
    Verdict.WRONG_ANSWER: Outcome.KILLED,
    Verdict.RUNTIME_ERROR: Outcome.CRASHED,
    Verdict.MEMORY_LIMIT: Outcome.CRASHED,
    Verdict.OUTPUT_LIMIT: Outcome.CRASHED,
    Verdict.TIME_LIMIT: Outcome.TIMED_OUT,
}


@dataclass
class ClassifiedMutant:
    mutant: Mutant
    outcome: Outcome
    first_failing_test: int | None = None  # index into the task's valid gold tests
    probe: Probe | None = None  # survivors only

    @property
    def detected(self) -> bool:
        return self.outcome is not Outcome.SURVIVED

    @property
    def non_equivalent(self) -> bool:
        """Known to behave differently from the gold solution on some input."""
        return self.detected or self.probe is Probe.DISTINGUISHED

    def passes_first(self, n: int) -> bool:
        return self.first_failing_test is None or self.first_failing_test >= n

    def to_dict(self) -> dict:
        return {
            **self.mutant.to_dict(),
            "outcome": self.outcome.value,
            "first_failing_test": self.first_failing_test,
            "probe": self.probe.value if self.probe else None,
        }


@dataclass
class TaskMutants:
    """One task's mutants and how the gold tests judge them; `skipped` names why there are none."""

    task: Task
    mutants: list[ClassifiedMutant] = field(default_factory=list)
    valid_tests: list[Test] = field(default_factory=list)
    n_invalid_gold_tests: int = 0
    limits: Limits | None = None
    n_probes: int = 0
    skipped: str | None = None

    @property
    def gold(self) -> Program:
        return gold_program(self.task)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for m in self.mutants if m.outcome is outcome)

    def count_probe(self, probe: Probe) -> int:
        return sum(1 for m in self.mutants if m.probe is probe)


@dataclass(frozen=True)
class ClassifyOptions:
    k: int = 20
    seed: int = 0
    limits: Limits = field(default_factory=Limits)  # for the gold runs; mutants get limits scaled from them
    time_factor: float = TIME_FACTOR
    time_floor: float = TIME_FLOOR
    n_probes: int = N_PROBES


def _generate(task: Task, opts: ClassifyOptions) -> TaskMutants:
    tm = TaskMutants(task)
    if not task.gold_solutions:
        tm.skipped = "no_gold_solution"
    elif not task.gold_tests:
        tm.skipped = "no_gold_tests"
    else:
        try:
            mutants = generate_mutants(
                task.gold_solutions[0], opts.k, opts.seed, kind=task.kind, fn_name=task.fn_name
            )
        except (SyntaxError, ValueError):
            tm.skipped = "gold_does_not_parse"
            return tm
        tm.mutants = [ClassifiedMutant(m, Outcome.SURVIVED) for m in mutants]
        if not mutants:
            tm.skipped = "no_mutants"
    return tm


def _run_gold(executor: Executor, active: Sequence[TaskMutants], opts: ClassifyOptions) -> None:
    """Keep the gold tests the gold solution passes, and scale the mutants' time limit from it."""
    batch = Batch(opts.limits)
    runs = [[(t, batch.add(tm.gold, t.input)) for t in as_tests(tm.task.gold_tests)] for tm in active]
    batch.run(executor)
    for tm, tests in zip(active, runs, strict=True):
        slowest = 0.0
        for test, slot in tests:
            execution = batch[slot]
            if passes(execution, test=test, kind=tm.task.kind):
                tm.valid_tests.append(test)
                slowest = max(slowest, execution.cpu_time)
        tm.n_invalid_gold_tests = len(tm.task.gold_tests) - len(tm.valid_tests)
        if not tm.valid_tests:
            tm.skipped = "gold_fails_its_tests"
            tm.mutants = []
            continue
        tm.limits = limits_from_gold(
            slowest, base=opts.limits, factor=opts.time_factor, floor=opts.time_floor
        )


def _probe_bases(tests: Sequence[Test]) -> list:
    """The smaller half of the gold inputs (by JSON size), the ones probes are derived from.

    Every survivor runs on every probe, so a probe as large as the largest gold test costs
    as much as that test times the number of survivors (on LeetCode, derived probes from all
    inputs took about a third of the classification's CPU). Small inputs also tend to reach
    the edge cases where a mutant differs.
    """
    inputs = sorted((t.input for t in tests), key=lambda x: len(json.dumps(x)))
    return inputs[: (len(inputs) + 1) // 2]


def _probe_survivors(executor: Executor, active: Sequence[TaskMutants], opts: ClassifyOptions) -> None:
    """Run survivors and the gold solution on derived inputs; any disagreement distinguishes."""
    probed: list[tuple[TaskMutants, list]] = []
    for tm in active:
        survivors = [m for m in tm.mutants if not m.detected]
        if not survivors:
            continue
        if tm.task.kind != "functional":
            for m in survivors:
                m.probe = Probe.UNPROBED
            continue
        inputs = derive_inputs(_probe_bases(tm.valid_tests), opts.n_probes, opts.seed)
        probed.append((tm, inputs))
    batch = Batch()
    gold_slots = [[batch.add(tm.gold, x, tm.limits) for x in inputs] for tm, inputs in probed]  # type: ignore[arg-type]
    batch.run(executor)
    units: list[Unit] = []
    owners: list[ClassifiedMutant] = []
    for (tm, inputs), slots in zip(probed, gold_slots, strict=True):
        tests = []
        for x, slot in zip(inputs, slots, strict=True):
            execution = batch[slot]
            if completed(execution):
                tests.append(Test(x, execution.output))
        tm.n_probes = len(tests)
        for m in tm.mutants:
            if m.detected:
                continue
            if not tests:
                m.probe = Probe.UNPROBED
                continue
            units.append(Unit(program(tm.task, m.mutant.source), tests, tm.limits))  # type: ignore[arg-type]
            owners.append(m)
    for m, failure in zip(owners, first_failures(executor, units), strict=True):
        m.probe = Probe.LIKELY_EQUIVALENT if failure is None else Probe.DISTINGUISHED


def classify_tasks(
    tasks: Sequence[Task],
    executor: Executor,
    opts: ClassifyOptions = ClassifyOptions(),  # frozen, so sharing the default is safe
    *,
    progress: Progress | None = None,
) -> list[TaskMutants]:
    """Generate `opts.k` mutants per task and classify each on the task's gold tests."""
    result = [_generate(task, opts) for task in tasks]
    active = [tm for tm in result if tm.skipped is None]
    _run_gold(executor, active, opts)
    active = [tm for tm in active if tm.skipped is None]
    units: list[Unit] = []
    owners: list[ClassifiedMutant] = []
    for tm in active:
        for m in tm.mutants:
            units.append(Unit(program(tm.task, m.mutant.source), tm.valid_tests, tm.limits))  # type: ignore[arg-type]
            owners.append(m)
    for m, failure in zip(owners, first_failures(executor, units, progress=progress), strict=True):
        if failure is not None:
            m.outcome = _OUTCOME_OF.get(failure.verdict, Outcome.KILLED)
            m.first_failing_test = failure.test_index
    _probe_survivors(executor, active, opts)
    return result
