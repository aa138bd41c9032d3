"""Buggy code and candidate pools made of mutants: ATGEN and best-of-N without any LLM.

- `buggy_code` (ATGEN's initial bugs): mutants the gold tests kill, preferring ones that
  pass the task's public examples, since a bug the statement's own examples expose
  teaches a test generator nothing. Among equals, a wrong answer beats a crash, which
  beats a time-out (each time-out costs a full time limit in every reward computation).
- `candidates["mutants"]` (for `atest bon` / `atest fidelity`): the gold solution, some
  survivors (alternative solutions the gold tests accept) and killed mutants, shuffled
  with the seed so the gold solution is not always first (the tie rules look at order).

Mutants are oversampled (`OVERSAMPLE` times the number asked for) so the preferences have
something to choose from. The public examples are approximated by the first `n_public`
gold tests (a task file carries no separate public tests; for LeetCode the statement's
examples are not necessarily first in the test list, so this is only a proxy).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from atest.core.mutation.classify import (
    ClassifiedMutant,
    ClassifyOptions,
    Outcome,
    TaskMutants,
    classify_tasks,
)
from atest.core.mutation.running import Progress
from atest.core.sandbox import Executor
from atest.core.tasks import Task

PoolKind = Literal["buggy", "candidates", "both"]
POOL_KINDS: tuple[str, ...] = ("buggy", "candidates", "both")
OVERSAMPLE = 3
N_PUBLIC = 3
CANDIDATES_KEY = "mutants"

_RANK = {Outcome.KILLED: 0, Outcome.CRASHED: 1, Outcome.TIMED_OUT: 2}


@dataclass
class PoolReport:
    tasks: list[Task]
    n_with_buggy: int = 0
    n_with_candidates: int = 0
    n_buggy: int = 0
    n_candidates: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # over all generated mutants
    skipped: dict[str, int] = field(default_factory=dict)  # tasks left unchanged, by reason


def _bug_order(tm: TaskMutants, n_public: int) -> list[ClassifiedMutant]:
    """Detected mutants, the ones that pass the public examples first, then by how they fail."""
    detected = [m for m in tm.mutants if m.detected]
    return sorted(detected, key=lambda m: (not m.passes_first(n_public), _RANK[m.outcome]))


def select_buggy(tm: TaskMutants, k: int, n_public: int = N_PUBLIC) -> list[ClassifiedMutant]:
    return _bug_order(tm, n_public)[:k]


def select_candidates(tm: TaskMutants, k: int, seed: int, n_public: int = N_PUBLIC) -> list[str]:
    """`k` programs: the gold solution, up to a quarter survivors, the rest killed mutants."""
    survivors = [m.mutant.source for m in tm.mutants if not m.detected]
    killed = [m.mutant.source for m in _bug_order(tm, n_public)]
    n_surv = min(len(survivors), max(1, k // 4)) if k > 1 else 0
    picked = survivors[:n_surv] + killed[: max(0, k - 1 - n_surv)]
    picked += survivors[n_surv : n_surv + max(0, k - 1 - len(picked))]
    pool = [tm.task.gold_solutions[0], *picked][:k]
    random.Random(f"pool\0{seed}\0{tm.task.task_id}").shuffle(pool)
    return pool


def add_mutants(
    tasks: Sequence[Task],
    executor: Executor,
    *,
    k: int,
    pool: PoolKind = "both",
    opts: ClassifyOptions | None = None,
    n_public: int = N_PUBLIC,
    progress: Progress | None = None,
) -> PoolReport:
    """Tasks with `buggy_code` and/or `candidates["mutants"]` filled from classified mutants.

    Existing buggy code is kept and mutants are appended after it; an existing
    `candidates["mutants"]` is replaced. Tasks that yield no usable mutant are returned
    unchanged and counted in `skipped`.
    """
    if pool not in POOL_KINDS:
        raise ValueError(f"pool must be one of {POOL_KINDS}, got {pool!r}")
    base = opts or ClassifyOptions()
    classified = classify_tasks(tasks, executor, replace(base, k=k * OVERSAMPLE), progress=progress)
    report = PoolReport(tasks=[])
    for tm in classified:
        for m in tm.mutants:
            report.outcomes[m.outcome.value] = report.outcomes.get(m.outcome.value, 0) + 1
        if tm.skipped:
            report.skipped[tm.skipped] = report.skipped.get(tm.skipped, 0) + 1
            report.tasks.append(tm.task)
            continue
        task = replace(tm.task, buggy_code=list(tm.task.buggy_code), candidates=dict(tm.task.candidates))
        if pool in ("buggy", "both"):
            bugs = [m.mutant.source for m in select_buggy(tm, k, n_public)]
            new = [b for b in bugs if b not in task.buggy_code]
            task.buggy_code.extend(new)
            report.n_buggy += len(new)
            report.n_with_buggy += bool(new)
        if pool in ("candidates", "both"):
            task.candidates[CANDIDATES_KEY] = select_candidates(tm, k, base.seed, n_public)
            report.n_candidates += len(task.candidates[CANDIDATES_KEY])
            report.n_with_candidates += 1
        report.tasks.append(task)
    return report
