"""Loading and checking what an evaluation needs: tasks, tests, solution models, N.

Nothing is dropped silently: every task left out is counted under a reason in
`skipped`, with a warning line, and an evaluation with nothing left is an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from atest.core.checking import Test
from atest.core.errors import InputError
from atest.core.metrics.testsfile import (
    GROUND_TRUTH,
    JoinedTests,
    ground_truth_tests,
    join_tests,
    read_tests_file,
)
from atest.core.tasks import Task, read_tasks


@dataclass
class EvalInputs:
    tasks: list[Task]
    tests: dict[str, list[Test]]
    models: list[str]
    tests_source: str
    skipped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    n_malformed_tests: int = 0
    n_duplicate_tests: int = 0

    def skip(self, reason: str, task_ids: Sequence[str], message: str) -> None:
        if task_ids:
            self.skipped[reason] = self.skipped.get(reason, 0) + len(task_ids)
            self.warnings.append(f"{message}: skipped {len(task_ids)} task(s), first {task_ids[0]!r}")


def load_tasks(path: str | Path) -> tuple[list[Task], list[str]]:
    tasks, problems = read_tasks(path)
    warnings = []
    if problems:
        warnings.append(f"{len(problems)} unreadable task record(s) ignored; first: {problems[0]}")
    return tasks, warnings


def load_tests(tests: str, tasks: Sequence[Task]) -> JoinedTests:
    if tests == GROUND_TRUTH:
        return ground_truth_tests(tasks)
    return join_tests(read_tests_file(tests), tasks, tests)


def pick_models(tasks: Sequence[Task], requested: Sequence[str] | None) -> list[str]:
    present = sorted({m for t in tasks for m, codes in t.candidates.items() if codes})
    if not requested:
        if not present:
            raise InputError(
                "no task has candidate solutions", "add some with `atest prepare --mutants` or a code model"
            )
        return present
    unknown = [m for m in requested if m not in present]
    if unknown:
        raise InputError(
            f"no task has candidates for solution model {unknown[0]!r}",
            f"models present: {', '.join(present) or 'none'}",
        )
    return list(dict.fromkeys(requested))


def load_eval_inputs(
    tasks_path: str | Path,
    tests: str,
    requested_models: Sequence[str] | None,
    *,
    need_gold_tests: bool,
    every_model: bool = True,
) -> EvalInputs:
    """Read tasks and tests, and keep the tasks that can be evaluated.

    With `every_model` (metrics that compare models) a task must have candidates from each
    requested model; otherwise (selection from a pooled set) from at least one.
    """
    tasks, warnings = load_tasks(tasks_path)
    models = pick_models(tasks, requested_models)
    joined = load_tests(tests, tasks)
    inputs = EvalInputs(
        tasks=[], tests=joined.tests, models=models, tests_source=tests, warnings=warnings,
        n_malformed_tests=joined.n_malformed, n_duplicate_tests=joined.n_duplicates,
    )  # fmt: skip
    if joined.n_malformed:
        inputs.warnings.append(
            f"{joined.n_malformed} malformed test(s) in {tests} ignored (need 'input' and 'output')"
        )
    if tests == GROUND_TRUTH:
        inputs.skip("no_gold_tests", joined.uncovered, "tasks without gold tests")
    else:
        inputs.skip("no_tests_row", joined.uncovered, f"tasks with no row in {tests}")
    kept = [t for t in tasks if t.task_id in joined.tests]
    if need_gold_tests:
        inputs.skip(
            "no_gold_tests", [t.task_id for t in kept if not t.gold_tests], "tasks without gold tests"
        )
        kept = [t for t in kept if t.gold_tests]
    if every_model:
        for model in models:
            missing = [t.task_id for t in kept if not t.candidates.get(model)]
            inputs.skip(f"no_candidates:{model}", missing, f"tasks without candidates for {model!r}")
            kept = [t for t in kept if t.candidates.get(model)]
    else:
        missing = [t.task_id for t in kept if not any(t.candidates.get(m) for m in models)]
        inputs.skip("no_candidates", missing, f"tasks without candidates from {', '.join(models)}")
        kept = [t for t in kept if t.task_id not in set(missing)]
    if not kept:
        raise InputError("no task left to evaluate: " + "; ".join(inputs.warnings))
    inputs.tasks = kept
    return inputs


def check_n(inputs: EvalInputs, n: int | None, ns: Sequence[int], *, skip_small: bool = False) -> None:
    """N beyond the candidates available would compare unequal pools: refuse it, or with
    `skip_small` leave out the tasks whose pool is smaller than the largest N (counted in
    `skipped` as `small_pool`), so that every N is scored on the same tasks, each with N drawn
    from at least N candidates."""
    for value in [*ns, *([n] if n is not None else [])]:
        if value < 1:
            raise InputError(f"N must be at least 1, got {value}")
    asked = max([*ns, *([n] if n is not None else [])], default=None)
    if skip_small and asked is not None:
        small = [t.task_id for t in inputs.tasks if any(len(t.candidates[m]) < asked for m in inputs.models)]
        inputs.skip("small_pool", small, f"tasks with fewer than {asked} candidates")
        dropped = set(small)
        inputs.tasks = [t for t in inputs.tasks if t.task_id not in dropped]
        if not inputs.tasks:
            raise InputError(
                f"no task has {asked} candidates from {', '.join(inputs.models)}",
                "use --n/--ns at most the pools' size",
            )
    available = [(len(t.candidates[m]), t.task_id, m) for t in inputs.tasks for m in inputs.models]
    fewest, task_id, model = min(available)
    if asked is not None and asked > fewest:
        raise InputError(
            f"N={asked} but task {task_id!r} has only {fewest} candidates from {model!r}",
            f"use --n/--ns at most {fewest}, --skip-small-pools, or --solution-model to pick models with more",
        )
    if n is None and len({a for a, _, _ in available}) > 1:
        inputs.warnings.append(
            f"candidate counts differ ({fewest} to {max(available)[0]}); each task uses all of its own; "
            f"pass --n to compare equal pools"
        )
