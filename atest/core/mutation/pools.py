"""Buggy code and candidate pools made of mutants: ATGEN and best-of-N without any LLM.

- `buggy_code` (ATGEN's initial bugs): mutants the gold tests kill, preferring ones that
  pass the task's public examples, since a bug the statement's own examples expose
  teaches a test generator nothing. Among equals, a wrong answer beats a crash, which
  beats a time-out (each time-out costs a full time limit in every reward computation).
- `candidates["mutants"]` (for `atest bon` / `atest fidelity`): the gold solution, some
  survivors (alternative solutions the gold tests accept) and killed mutants, shuffled
  with the seed so the gold solution is not always first (the tie rules look at order).

Mutants are oversampled (`OVERSAMPLE` times the number asked for) so the preferences have
something to choose from. A task file carries no separate public tests, so the public
examples are found in the statement: a gold test is public when its input (each argument
rendered as compact JSON, or the whole stdin) appears verbatim in the statement once all
whitespace is removed. Those tests are moved to the front before classification, so a
mutant's first failing test says whether it passes all of them. A task whose statement
shows no gold-test input falls back to its first `N_PUBLIC` gold tests as a proxy.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from atest.core.checking import Progress, identity
from atest.core.mutation.classify import (
    ClassifiedMutant,
    ClassifyOptions,
    Outcome,
    TaskMutants,
    classify_tasks,
)
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
    n_buggy_passing_public: int = 0  # buggy codes that pass every public example
    n_candidates: int = 0
    n_with_public_examples: int = 0  # tasks whose statement shows some gold-test input
    outcomes: dict[str, int] = field(default_factory=dict)  # over all generated mutants
    skipped: dict[str, int] = field(default_factory=dict)  # tasks left unchanged, by reason

    @property
    def n_mutants(self) -> int:
        return sum(self.outcomes.values())

    def to_json(self) -> dict:
        return {
            "n_mutants": self.n_mutants,
            "outcomes": dict(sorted(self.outcomes.items())),
            "n_buggy": self.n_buggy,
            "n_buggy_passing_public": self.n_buggy_passing_public,
            "n_tasks_with_buggy": self.n_with_buggy,
            "n_candidates": self.n_candidates,
            "n_tasks_with_candidates": self.n_with_candidates,
            "n_tasks_with_public_examples": self.n_with_public_examples,
            "skipped": dict(sorted(self.skipped.items())),
        }


_SPACE = re.compile(r"\s+")


def _squash(text: str) -> str:
    return _SPACE.sub("", text)


def _shown_parts(test_input: object) -> list[str]:
    """How a test input would be written in a statement's example, whitespace removed."""
    if isinstance(test_input, str):
        return [_squash(test_input)]
    if isinstance(test_input, dict):
        return [f"{name}={json.dumps(v, separators=(',', ':'))}" for name, v in test_input.items()]
    return [json.dumps(v, separators=(",", ":")) for v in test_input]  # type: ignore[attr-defined]


def public_examples(task: Task) -> list[int]:
    """Indices of the gold tests whose input the statement shows verbatim (its public examples)."""
    statement = _squash(task.question)
    return [
        i
        for i, test in enumerate(task.gold_tests)
        if (parts := _shown_parts(test["input"])) and all(p and p in statement for p in parts)
    ]


def _public_first(task: Task) -> tuple[Task, int]:
    """The task with its public examples moved to the front, and how many there are."""
    public = public_examples(task)
    if not public:
        return task, 0
    shown = set(public)
    rest = [t for i, t in enumerate(task.gold_tests) if i not in shown]
    return replace(task, gold_tests=[task.gold_tests[i] for i in public] + rest), len(public)


def _n_public_valid(tm: TaskMutants, n_shown: int) -> int:
    """Public examples among the valid tests (they lead), or the first-tests proxy without any."""
    if not n_shown:
        return N_PUBLIC
    shown = {identity(t, by="input") for t in tm.task.gold_tests[:n_shown]}
    return sum(1 for t in tm.valid_tests if identity(t, by="input") in shown)


def _bug_order(tm: TaskMutants, n_public: int) -> list[ClassifiedMutant]:
    """Detected mutants, the ones that pass the public examples first, then by how they fail."""
    detected = [m for m in tm.mutants if m.detected]
    return sorted(detected, key=lambda m: (not m.passes_first(n_public), _RANK[m.outcome]))


def select_buggy(tm: TaskMutants, k: int, n_public: int = N_PUBLIC) -> list[ClassifiedMutant]:
    return _bug_order(tm, n_public)[:k]


def select_candidates(tm: TaskMutants, k: int, seed: int, n_public: int = N_PUBLIC) -> list[str]:
    """`k` programs: the gold solution, up to a quarter survivors, the rest killed mutants.

    Time-outs come last among the killed ones: every evaluation of the pool pays a full
    time limit per test for each of them.
    """
    survivors = [m.mutant.source for m in tm.mutants if not m.detected]
    ordered = sorted(_bug_order(tm, n_public), key=lambda m: m.outcome is Outcome.TIMED_OUT)
    killed = [m.mutant.source for m in ordered]
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
    progress: Progress | None = None,
) -> PoolReport:
    """Tasks with `buggy_code` and/or `candidates["mutants"]` filled from classified mutants.

    Existing buggy code is kept and mutants are appended after it; an existing
    `candidates["mutants"]` is replaced. Tasks that yield no usable mutant are returned
    unchanged and counted in `skipped`. Returned tasks keep their original test order.
    """
    if pool not in POOL_KINDS:
        raise ValueError(f"pool must be one of {POOL_KINDS}, got {pool!r}")
    base = opts or ClassifyOptions()
    reordered = [_public_first(task) for task in tasks]
    classified = classify_tasks(
        [t for t, _ in reordered], executor, replace(base, k=k * OVERSAMPLE), progress=progress
    )
    report = PoolReport(tasks=[])
    for original, (_, n_shown), tm in zip(tasks, reordered, classified, strict=True):
        report.n_with_public_examples += bool(n_shown)
        for m in tm.mutants:
            report.outcomes[m.outcome.value] = report.outcomes.get(m.outcome.value, 0) + 1
        if tm.skipped:
            report.skipped[tm.skipped] = report.skipped.get(tm.skipped, 0) + 1
            report.tasks.append(original)
            continue
        n_public = _n_public_valid(tm, n_shown)
        task = replace(original, buggy_code=list(original.buggy_code), candidates=dict(original.candidates))
        if pool in ("buggy", "both"):
            bugs = [m for m in select_buggy(tm, k, n_public) if m.mutant.source not in task.buggy_code]
            task.buggy_code.extend(m.mutant.source for m in bugs)
            report.n_buggy += len(bugs)
            report.n_buggy_passing_public += sum(m.passes_first(n_public) for m in bugs)
            report.n_with_buggy += bool(bugs)
        if pool in ("candidates", "both"):
            task.candidates[CANDIDATES_KEY] = select_candidates(tm, k, base.seed, n_public)
            report.n_candidates += len(task.candidates[CANDIDATES_KEY])
            report.n_with_candidates += 1
        report.tasks.append(task)
    return report
