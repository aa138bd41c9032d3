"""Mutation score of a test set: the fraction of non-equivalent mutants its tests kill.

Only *valid* tests count (the gold solution produces their expected output): a test with
a wrong expected output "kills" every program, the gold one included, so it measures
nothing. A mutant is killed when it fails at least one valid test (wrong answer, crash,
time limit).

Equivalent mutants cannot be killed by any test, so they are left out of the
denominator. Which ones are equivalent is undecidable; a mutant counts as
non-equivalent once anything has shown it behaves differently from the gold solution:
the gold tests detect it, a derived probe input distinguishes it, or the scored test
set itself kills it. The rest (survivors nothing told apart) are reported as likely
equivalent, and the count of survivors that could not be probed is reported too.

The overall score pools mutants over tasks (each mutant weighs the same); its interval
is a seeded percentile bootstrap over tasks. The mean of per-task scores is reported
alongside with its own interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from atest.core.checking import Batch, Progress, Test, Unit, first_failures, passes, program
from atest.core.metrics.bootstrap import bootstrap_mean_ci, bootstrap_ratio_ci
from atest.core.mutation.classify import ClassifiedMutant, Outcome, Probe, TaskMutants
from atest.core.sandbox import Executor, Limits, Program


@dataclass
class TaskScore:
    task_id: str
    n_mutants: int
    n_killed: int
    n_non_equivalent: int
    n_likely_equivalent: int  # survivors that agreed with the gold solution on every probe
    n_unprobed: int  # survivors nothing told apart and no probe could test (left out, like equivalents)
    n_tests: int
    n_valid_tests: int
    score: float | None  # None when no mutant is known to be non-equivalent


@dataclass
class ScoreReport:
    mutation_score: float | None
    ci95: list[float] | None
    mean_task_score: float | None
    mean_task_ci95: list[float] | None
    n_tasks: int
    n_mutants: int
    n_killed: int
    n_non_equivalent: int
    gold: dict[str, int]  # outcome counts on the gold tests, and probe results for survivors
    tasks: list[TaskScore] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict:
        out = asdict(self)
        out.pop("tasks")
        return out


def _killed_by_gold(tm: TaskMutants) -> list[bool]:
    return [m.detected for m in tm.mutants]


def _killed_by_tests(
    executor: Executor,
    classified: Sequence[TaskMutants],
    tests: dict[str, list[Test]],
    gold_limits: Limits,
    progress: Progress | None,
) -> dict[str, tuple[int, list[bool]]]:
    """Per task: the number of valid tests, and which mutants they kill."""
    batch = Batch(gold_limits)
    slots = {
        tm.task.task_id: [batch.add(tm.gold, t.input) for t in tests[tm.task.task_id]] for tm in classified
    }
    batch.run(executor)
    valid: dict[str, list[Test]] = {}
    for tm in classified:
        task_id = tm.task.task_id
        valid[task_id] = [
            t
            for t, slot in zip(tests[task_id], slots[task_id], strict=True)
            if passes(batch[slot], test=t, kind=tm.task.kind)
        ]
    units: list[Unit] = []
    owners: list[tuple[str, int]] = []
    for tm in classified:
        for i, m in enumerate(tm.mutants):
            units.append(Unit(_program(tm, m), valid[tm.task.task_id], tm.limits))  # type: ignore[arg-type]
            owners.append((tm.task.task_id, i))
    killed = {tm.task.task_id: (len(valid[tm.task.task_id]), [False] * len(tm.mutants)) for tm in classified}
    for (task_id, i), failure in zip(owners, first_failures(executor, units, progress=progress), strict=True):
        killed[task_id][1][i] = failure is not None
    return killed


def _program(tm: TaskMutants, m: ClassifiedMutant) -> Program:
    return program(tm.task, m.mutant.source)


def score_tests(
    executor: Executor,
    classified: Sequence[TaskMutants],
    tests: dict[str, list[Test]] | None,
    *,
    gold_limits: Limits | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> ScoreReport:
    """Score `tests` (task_id -> tests; None means each task's gold tests) on classified mutants.

    Tasks without mutants, or (with a tests map) without an entry in `tests`, are counted
    in `skipped` by reason and left out.
    """
    skipped: dict[str, int] = {}
    usable = []
    for tm in classified:
        reason = tm.skipped or (None if tests is None or tm.task.task_id in tests else "no_tests_row")
        if reason:
            skipped[reason] = skipped.get(reason, 0) + 1
        else:
            usable.append(tm)
    if tests is None:
        kills = {tm.task.task_id: (len(tm.valid_tests), _killed_by_gold(tm)) for tm in usable}
    else:
        kills = _killed_by_tests(executor, usable, tests, gold_limits or Limits(), progress)
    rows = [_task_score(tm, *kills[tm.task.task_id], tests) for tm in usable]
    killed = [r.n_killed for r in rows]
    non_eq = [r.n_non_equivalent for r in rows]
    scored = [r.score for r in rows if r.score is not None]
    return ScoreReport(
        mutation_score=sum(killed) / sum(non_eq) if sum(non_eq) else None,
        ci95=bootstrap_ratio_ci(killed, non_eq, seed=seed),
        mean_task_score=sum(scored) / len(scored) if scored else None,
        mean_task_ci95=bootstrap_mean_ci(scored, seed=seed),
        n_tasks=len(rows),
        n_mutants=sum(r.n_mutants for r in rows),
        n_killed=sum(killed),
        n_non_equivalent=sum(non_eq),
        gold=_gold_counts(usable),
        tasks=rows,
        skipped=skipped,
    )


def _task_score(
    tm: TaskMutants, n_valid: int, killed: list[bool], tests: dict[str, list[Test]] | None
) -> TaskScore:
    non_eq = [m.non_equivalent or k for m, k in zip(tm.mutants, killed, strict=True)]
    n_killed = sum(killed)
    n_non_eq = sum(non_eq)
    n_unprobed = sum(
        1 for m, ne in zip(tm.mutants, non_eq, strict=True) if not ne and m.probe is Probe.UNPROBED
    )
    n_tests = len(tm.task.gold_tests) if tests is None else len(tests[tm.task.task_id])
    return TaskScore(
        task_id=tm.task.task_id,
        n_mutants=len(tm.mutants),
        n_killed=n_killed,
        n_non_equivalent=n_non_eq,
        n_likely_equivalent=len(tm.mutants) - n_non_eq - n_unprobed,
        n_unprobed=n_unprobed,
        n_tests=n_tests,
        n_valid_tests=n_valid,
        score=n_killed / n_non_eq if n_non_eq else None,
    )


def _gold_counts(classified: Sequence[TaskMutants]) -> dict[str, int]:
    counts = {o.value: sum(tm.count(o) for tm in classified) for o in Outcome}
    counts.update({p.value: sum(tm.count_probe(p) for tm in classified) for p in Probe})
    return counts
