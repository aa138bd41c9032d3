"""Running candidates and gold solutions on tests through the sandbox.

Every (program, input, limits) triple is run once per command: identical candidates,
a generated test equal to a gold test, and the gold solution's run on a generated input
(shared by all candidates) are de-duplicated before the executor sees them. Outputs are
compared here, in the supervisor, never inside the sandboxed process. Work is sent in
large batches (whole tasks at a time) so the executor can keep every core busy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from atest.core.checking import (
    Batch,
    PairCheck,
    Progress,
    Test,
    as_tests,
    gold_program,
    pair_verdicts,
    passes,
    program_under,
)
from atest.core.errors import InputError
from atest.core.metrics.attack import AttackUnit
from atest.core.rules import ATEST, Rules
from atest.core.sandbox import Execution, Executor, Limits
from atest.core.tasks import Task

CHUNK_JOBS = 20_000  # bounds memory for TACO-sized runs while keeping batches large


def candidates_of(task: Task, model: str, n: int | None) -> list[str]:
    codes = task.candidates.get(model)
    if not codes:
        raise InputError(f"task {task.task_id!r} has no candidates for model {model!r}")
    if n is not None and n > len(codes):
        raise InputError(f"task {task.task_id!r}: --n {n} but model {model!r} has {len(codes)} candidates")
    return codes if n is None else codes[:n]


@dataclass
class CandidateCounts:
    """Tests passed by each candidate of one (task, model)."""

    task_id: str
    model: str
    n_tests: int  # scoring tests actually used (after dropping invalid ones, if asked)
    n_gold: int
    passed: list[int]  # scoring tests passed, per candidate
    gold_passed: list[int]  # gold tests passed, per candidate (empty without gold)
    # Without scoring tests, under rules that then take candidate 0 as written: its gold tests passed.
    first_as_written_gold_passed: int | None = None

    @property
    def correct(self) -> list[bool]:
        return [p == self.n_gold for p in self.gold_passed]


@dataclass
class ScoringOutcome:
    counts: list[CandidateCounts]
    n_invalid: dict[str, int] = field(default_factory=dict)  # generated tests the gold fails, per task
    n_executions: int = 0  # distinct (program, input, limits) runs


def _chunks(tasks: Sequence[Task], size_of: Callable[[Task], int]) -> list[list[Task]]:
    chunks: list[list[Task]] = [[]]
    total = 0
    for task in tasks:
        if chunks[-1] and total + size_of(task) > CHUNK_JOBS:
            chunks.append([])
            total = 0
        chunks[-1].append(task)
        total += size_of(task)
    return chunks


def score_candidates(
    executor: Executor,
    tasks: Sequence[Task],
    tests: Mapping[str, Sequence[Test]],
    models: Sequence[str],
    *,
    n: int | None = None,
    with_gold: bool = True,
    drop_invalid: bool = False,
    limits: Limits | None = None,
    every_model: bool = True,
    progress: Progress | None = None,
    rules: Rules = ATEST,
) -> ScoringOutcome:
    """Count, per candidate, the scoring tests and (with `with_gold`) the gold tests it passes.

    `drop_invalid` runs the gold solution on each scoring test and ignores tests whose
    expected output the gold does not produce; by default they are kept, as in UTRL.
    Without `every_model`, a task is scored on those of `models` it has candidates from.
    Under `rules=UTRL` each candidate's code is cut out of it by the authors' rule, run as
    their runner runs it and judged by their verdict; a (task, model) without scoring tests
    also runs candidate 0 as written on the gold tests (their fallback).
    """
    limits = limits or Limits()

    def models_of(task: Task) -> list[str]:
        return list(models) if every_model else [m for m in models if task.candidates.get(m)]

    for task in tasks:
        for model in models_of(task):
            candidates_of(task, model, n)
        if with_gold and not task.gold_tests:
            raise InputError(
                f"task {task.task_id!r} has no gold tests", "correctness is judged on gold tests"
            )
        if drop_invalid:
            gold_program(task)

    def size_of(task: Task) -> int:
        per_candidate = len(tests.get(task.task_id, [])) + (len(task.gold_tests) if with_gold else 0)
        return sum(len(candidates_of(task, m, n)) for m in models_of(task)) * per_candidate

    outcome = ScoringOutcome(counts=[])
    total = sum(size_of(t) for t in tasks)
    done = 0
    for chunk in _chunks(tasks, size_of):
        batch = Batch(limits)
        plans = [
            _plan_task(
                batch,
                task,
                list(tests.get(task.task_id, [])),
                models_of(task),
                n,
                with_gold,
                drop_invalid,
                rules,
            )
            for task in chunk
        ]
        results = batch.run(executor)
        outcome.n_executions += len(results)
        for plan in plans:
            plan.collect(results, outcome)
        done += sum(size_of(t) for t in chunk)
        if progress:
            progress(done, total)
    return outcome


@dataclass
class _TaskPlan:
    """Which batch slot holds each run of one task, so results can be judged after the batch."""

    task: Task
    tests: list[Test]
    models: Sequence[str]
    slots: dict[
        str, list[tuple[list[int | None], list[int | None]]]
    ]  # model -> per candidate (scoring, gold)
    gold_slots: list[int | None] | None  # the gold solution on each scoring test (drop_invalid only)
    with_gold: bool
    rules: Rules
    first_as_written: dict[str, list[int | None]] = field(default_factory=dict)  # model -> gold slots

    def collect(self, results: list[Execution], outcome: ScoringOutcome) -> None:
        kind, rules = self.task.kind, self.rules

        def passed(slots: Sequence[int | None], tests: Sequence[Test]) -> int:
            return sum(
                passes(None if s is None else results[s], test=t, kind=kind, rules=rules)
                for s, t in zip(slots, tests, strict=True)
            )

        keep = list(range(len(self.tests)))
        if self.gold_slots is not None:
            keep = [i for i in keep if passed([self.gold_slots[i]], [self.tests[i]])]
            outcome.n_invalid[self.task.task_id] = len(self.tests) - len(keep)
        kept = [self.tests[i] for i in keep]
        gold_tests = as_tests(self.task.gold_tests) if self.with_gold else []
        for model in self.models:
            counts, gold_counts = [], []
            for scoring_slots, gold_slots in self.slots[model]:
                counts.append(passed([scoring_slots[i] for i in keep], kept))
                if self.with_gold:
                    gold_counts.append(passed(gold_slots, gold_tests))
            fallback = self.first_as_written.get(model)
            outcome.counts.append(
                CandidateCounts(
                    self.task.task_id,
                    model,
                    len(keep),
                    len(gold_tests),
                    counts,
                    gold_counts,
                    None if fallback is None else passed(fallback, gold_tests),
                )
            )


def _plan_task(
    batch: Batch,
    task: Task,
    tests: list[Test],
    models: Sequence[str],
    n: int | None,
    with_gold: bool,
    drop_invalid: bool,
    rules: Rules,
) -> _TaskPlan:
    def runs(prog, values: Sequence[Test]) -> list[int | None]:
        return [None if prog is None else batch.add(prog, t.input) for t in values]

    slots: dict[str, list[tuple[list[int | None], list[int | None]]]] = {}
    first_as_written: dict[str, list[int | None]] = {}
    gold_tests = as_tests(task.gold_tests) if with_gold else []
    for model in models:
        slots[model] = []
        codes = candidates_of(task, model, n)
        for code in codes:
            candidate = program_under(rules, task, candidate_code(code, rules))
            slots[model].append((runs(candidate, tests), runs(candidate, gold_tests)))
        if rules.first_as_written_without_tests and not tests:
            first_as_written[model] = runs(program_under(rules, task, codes[0]), gold_tests)
    gold_slots = None
    if drop_invalid:
        gold_slots = runs(program_under(rules, task, gold_program(task).source), tests)
    return _TaskPlan(task, tests, models, slots, gold_slots, with_gold, rules, first_as_written)


def candidate_code(code: str, rules: Rules) -> str:
    """A candidate as stored (atest's loaders already cut its code), or the authors' cut of it."""
    if rules.code_extraction == "utrl":
        from atest.core.paper import utrl as authors

        return authors.extract_code(code)
    return code


def attack_units(
    executor: Executor,
    cases: Sequence[PairCheck],
    *,
    limits: Limits | None = None,
    progress: Progress | None = None,
) -> tuple[list[AttackUnit], int]:
    """Judge each generated pair against the gold solution and the buggy code (one batch):
    `checking.pair_verdicts`, the decision the ATGEN reward pays on, per unit."""
    verdicts, n_executions = pair_verdicts(executor, cases, limits=limits, progress=progress)
    units = [
        AttackUnit.of(case.task.task_id, case.task.difficulty or "unknown", verdict)
        for case, verdict in zip(cases, verdicts, strict=True)
    ]
    return units, n_executions
