"""`prepare`: turn a loaded dataset into a clean task file.

Steps, each counted in the summary under the reason a task was dropped:
1. load (`bad_record`, `unsupported_type`, `no_tests` come from the loaders);
2. normalise: drop blank and repeated gold solutions and those that do not parse as Python 3
   (`gold_syntax_error` when none is left), repeated test inputs, cap tests/golds if asked;
3. de-duplicate by normalised statement (`duplicate`), and drop statements found in other task
   files given with `--exclude` (`excluded`), keeping training and evaluation disjoint;
4. with `verify`, run every gold solution on every gold test in the sandbox; a solution is
   verified when all its tests are accepted. Verified solutions go first and the count is kept in
   `extra["n_verified_gold"]`; tasks without one are dropped (`no_gold_solution`,
   `gold_fails_tests`).
5. with `mutants` K > 0, mutate each task's first gold solution, classify the mutants on the
   gold tests and fill `buggy_code` and/or `candidates["mutants"]` (see `mutation.pools`).
   Tasks that yield no usable mutant are kept unchanged and counted by reason.
   Verification and mutation share one executor, so the gold runs are not repeated.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from atest.core.checking import Batch, as_tests, distinct_tests, passes, program
from atest.core.errors import InputError
from atest.core.loaders import LoadProblem, load_source
from atest.core.loaders._common import syntax_error
from atest.core.loaders.apps import UNWRAPPED_FLAG, rewrap_outputs
from atest.core.sandbox.settings import SandboxSettings
from atest.core.tasks import Task, read_tasks

DUPLICATE = "duplicate"
EXCLUDED = "excluded"
GOLD_SYNTAX_ERROR = "gold_syntax_error"
NO_GOLD = "no_gold_solution"
GOLD_FAILS = "gold_fails_tests"
NO_TESTS = "no_tests"

MUTANT_POOLS = ("buggy", "candidates", "both")

Progress = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass
class PrepareOptions:
    verify: bool = False
    exclude: Sequence[str | Path] = ()
    strict: bool = False
    workers: int | None = None
    max_gold: int | None = None  # gold solutions kept (and verified) per task, in dataset order
    max_tests: int | None = None  # gold tests kept per task, in dataset order
    cpu_seconds: float = 4.0  # per gold run; generous, since a slow gold is still a correct one
    mutants: int = 0  # K mutants per task into buggy_code / candidates["mutants"]; 0 = none
    mutant_seed: int = 0
    mutants_into: str = "both"  # one of MUTANT_POOLS
    cache_dir: str | Path | None = None  # the sandbox's disk cache, shared with the evaluation commands
    sandbox: SandboxSettings | None = None  # where programs run (None: the defaults)


@dataclass
class PrepareSummary:
    n_in: int = 0
    n_out: int = 0
    dropped_by_reason: Counter = field(default_factory=Counter)
    n_gold_in: int = 0
    n_gold_syntax_error: int = 0
    n_gold_checked: int = 0
    n_gold_verified: int = 0
    n_tests: int = 0
    n_executions: int = 0
    n_rewrapped: int = 0
    verified: bool = False
    problems: list[str] = field(default_factory=list)
    mutants: dict[str, Any] | None = None  # PoolReport.to_json() when mutants were asked for

    @property
    def n_dropped(self) -> int:
        return self.n_in - self.n_out

    def to_json(self) -> dict[str, Any]:
        return {
            "n_in": self.n_in,
            "n_out": self.n_out,
            "n_dropped": self.n_dropped,
            "dropped_by_reason": dict(sorted(self.dropped_by_reason.items())),
            "verified": self.verified,
            "n_gold_in": self.n_gold_in,
            "n_gold_syntax_error": self.n_gold_syntax_error,
            "n_gold_checked": self.n_gold_checked,
            "n_gold_verified": self.n_gold_verified,
            "n_tests": self.n_tests,
            "n_executions": self.n_executions,
            "n_apps_outputs_rewrapped": self.n_rewrapped,
            "n_mutants": self.mutants["n_mutants"] if self.mutants else 0,
            "mutants": self.mutants,
            "n_problems": len(self.problems),
            "problems": self.problems[:20],
        }


def normalise_statement(text: str) -> str:
    """The key two statements share when they differ only in case, spacing or Unicode form."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def prepare_source(
    source: str,
    path_or_id: str | None,
    split: str | None = None,
    limit: int | None = None,
    options: PrepareOptions | None = None,
    progress: Progress | None = None,
) -> tuple[list[Task], PrepareSummary]:
    """Load a source and run every `prepare` step on it; raises InputError for bad input."""
    tasks, problems = load_source(source, path_or_id, split, limit)
    return prepare_tasks(tasks, problems, options or PrepareOptions(), progress)


def prepare_tasks(
    tasks: list[Task],
    problems: Sequence[LoadProblem],
    options: PrepareOptions,
    progress: Progress | None = None,
) -> tuple[list[Task], PrepareSummary]:
    """Normalise, de-duplicate, exclude and (optionally) verify loaded tasks, counting every drop."""
    if options.mutants_into not in MUTANT_POOLS:
        raise InputError(
            f"unknown mutant pool {options.mutants_into!r}", f"use one of {', '.join(MUTANT_POOLS)}"
        )
    summary = PrepareSummary(n_in=len(tasks) + len(problems), verified=options.verify)
    errors = [p for p in problems if p.is_error]
    if options.strict and errors:
        raise InputError(f"{errors[0]} ({len(errors)} bad record(s); drop --strict to skip them)")
    for p in problems:
        summary.dropped_by_reason[p.reason] += 1
        summary.problems.append(str(p))
    if errors and len(errors) == summary.n_in:
        raise InputError(f"no valid record; first problem: {errors[0]}")

    kept = []
    for task in tasks:
        normal = _normalise(task, options, summary)
        if normal is not None:
            kept.append(normal)
    kept = _dedupe(kept, summary)
    if options.exclude:
        kept = _exclude(kept, options.exclude, summary)
    with _executor(options) as executor:
        if options.verify:
            kept = verify_tasks(kept, options, summary, executor, progress)
        if options.mutants:
            kept = _add_mutants(kept, options, summary, executor, progress)
    summary.n_out = len(kept)
    summary.n_tests = sum(len(t.gold_tests) for t in kept)
    return kept, summary


def _normalise(task: Task, options: PrepareOptions, summary: PrepareSummary) -> Task | None:
    where = task.extra.get("origin", task.task_id)
    golds: list[str] = []
    syntax_errors: list[str] = []
    for i, code in enumerate(task.gold_solutions):
        if not code.strip() or code in golds:
            continue
        summary.n_gold_in += 1
        message = syntax_error(code)
        if message is None:
            golds.append(code)
            continue
        summary.n_gold_syntax_error += 1
        syntax_errors.append(f"{where}: field 'gold_solutions[{i}]' does not parse ({message})")
        if options.strict:
            raise InputError(syntax_errors[-1], "fix the solution or drop --strict to skip it")
    if task.gold_solutions and not golds:
        summary.dropped_by_reason[GOLD_SYNTAX_ERROR] += 1
        summary.problems.append(syntax_errors[0] if syntax_errors else f"{where}: only blank gold solutions")
        return None
    if options.max_gold is not None:
        golds = golds[: options.max_gold]
    tests = distinct_tests(task.gold_tests, by="input")
    if options.max_tests is not None:
        tests = tests[: options.max_tests]
    if not tests:
        summary.dropped_by_reason[NO_TESTS] += 1
        summary.problems.append(f"{where}: no gold tests")
        return None
    return replace(task, gold_solutions=golds, gold_tests=tests, question=task.question.strip())


def _dedupe(tasks: list[Task], summary: PrepareSummary) -> list[Task]:
    """One task per statement. A duplicate's buggy codes join the task kept for that statement:
    ATGEN's parquet has one row per (question, buggy code) pair, and every pair is a training
    slot (16,822 pairs in the paper), so de-duplication must not lose them."""
    seen: dict[str, int] = {}
    out: list[Task] = []
    for task in tasks:
        key = normalise_statement(task.question)
        if key in seen:
            kept = out[seen[key]]
            new = [c for c in dict.fromkeys(task.buggy_code) if c not in kept.buggy_code]
            out[seen[key]] = replace(kept, buggy_code=[*kept.buggy_code, *new])
            summary.dropped_by_reason[DUPLICATE] += 1
            joined = f"; its {len(new)} buggy code(s) joined it" if new else ""
            summary.problems.append(f"{task.task_id}: same statement as {kept.task_id}{joined}")
            continue
        seen[key] = len(out)
        out.append(task)
    return out


def _exclude(tasks: list[Task], files: Sequence[str | Path], summary: PrepareSummary) -> list[Task]:
    banned: set[str] = set()
    for f in files:
        others, _ = read_tasks(f)
        banned.update(normalise_statement(t.question) for t in others)
    out = []
    for task in tasks:
        if normalise_statement(task.question) in banned:
            summary.dropped_by_reason[EXCLUDED] += 1
            continue
        out.append(task)
    return out


@contextmanager
def _executor(options: PrepareOptions) -> Iterator[Any]:
    """One sandbox executor for every step that runs code, or None when no step does."""
    if not (options.verify or options.mutants):
        yield None
        return
    from atest.core.sandbox import get_executor

    with get_executor(
        workers=options.workers, cache_dir=options.cache_dir, settings=options.sandbox
    ) as executor:
        yield executor


def _add_mutants(
    tasks: list[Task],
    options: PrepareOptions,
    summary: PrepareSummary,
    executor: Any,
    progress: Progress | None,
) -> list[Task]:
    from atest.core.mutation.classify import ClassifyOptions
    from atest.core.mutation.pools import add_mutants
    from atest.core.sandbox import Limits

    # Same gold limits as verification, so the classifier's gold runs come from the executor's cache.
    opts = ClassifyOptions(seed=options.mutant_seed, limits=Limits(cpu_seconds=options.cpu_seconds))
    report = add_mutants(
        tasks,
        executor,
        k=options.mutants,
        pool=options.mutants_into,  # type: ignore[arg-type]
        opts=opts,
        progress=(lambda done, total: progress("classifying mutants", done, total)) if progress else None,
    )
    summary.mutants = {"k": options.mutants, "seed": options.mutant_seed, "into": options.mutants_into}
    summary.mutants.update(report.to_json())
    return report.tasks


def verify_tasks(
    tasks: list[Task],
    options: PrepareOptions,
    summary: PrepareSummary,
    executor: Any,
    progress: Progress | None = None,
) -> list[Task]:
    """Run each gold on all its task's tests; keep tasks with a verified gold, verified golds first."""
    from atest.core.sandbox import Limits

    limits = Limits(cpu_seconds=options.cpu_seconds)
    with_gold = []
    for task in tasks:
        if task.gold_solutions:
            with_gold.append(task)
        else:
            summary.dropped_by_reason[NO_GOLD] += 1
            summary.problems.append(f"{task.task_id}: no gold solution to verify")
    total = sum(len(t.gold_solutions) * len(t.gold_tests) for t in with_gold)
    done = 0
    kept: list[Task] = []
    for chunk in _chunks(with_gold, max_jobs=2000):
        batch = Batch(limits)
        slots = [
            batch.add(program(t, gold), test["input"])
            for t in chunk
            for gold in t.gold_solutions
            for test in t.gold_tests
        ]
        batch.run(executor)
        results = [batch[slot] for slot in slots]
        summary.n_executions += len(slots)  # runs asked for (the batch makes a repeated one once)
        pos = 0
        for task in chunk:
            n = len(task.gold_solutions) * len(task.gold_tests)
            verdict = _settle(task, results[pos : pos + n], summary)
            pos += n
            if verdict is not None:
                kept.append(verdict)
        done += len(slots)
        if progress is not None:
            progress("verifying gold solutions", done, total)
    return kept


def _chunks(tasks: list[Task], max_jobs: int) -> list[list[Task]]:
    """Group whole tasks so each sandbox batch stays near `max_jobs` executions."""
    chunks: list[list[Task]] = []
    current: list[Task] = []
    size = 0
    for task in tasks:
        n = len(task.gold_solutions) * len(task.gold_tests)
        if current and size + n > max_jobs:
            chunks.append(current)
            current, size = [], 0
        current.append(task)
        size += n
    if current:
        chunks.append(current)
    return chunks


def _settle(task: Task, results: list, summary: PrepareSummary) -> Task | None:
    """Decide which golds pass every test; try the wrapped APPS reading if the unwrapped one fails."""
    n_tests = len(task.gold_tests)
    per_gold = [results[g * n_tests : (g + 1) * n_tests] for g in range(len(task.gold_solutions))]
    summary.n_gold_checked += len(per_gold)
    passing = _passing(task, per_gold)
    if not passing and task.extra.get(UNWRAPPED_FLAG):
        alt = rewrap_outputs(task)
        alt_passing = _passing(alt, per_gold)
        if alt_passing:
            task, passing = alt, alt_passing
            summary.n_rewrapped += 1
    if not passing:
        summary.dropped_by_reason[GOLD_FAILS] += 1
        summary.problems.append(f"{task.task_id}: no gold solution passes all {n_tests} gold tests")
        return None
    summary.n_gold_verified += len(passing)
    golds = [task.gold_solutions[g] for g in passing]
    golds += [code for g, code in enumerate(task.gold_solutions) if g not in passing]
    return replace(task, gold_solutions=golds, extra={**task.extra, "n_verified_gold": len(passing)})


def _passing(task: Task, per_gold: list[list]) -> list[int]:
    tests = as_tests(task.gold_tests)
    return [
        g
        for g, runs in enumerate(per_gold)
        if all(passes(run, test=test, kind=task.kind) for run, test in zip(runs, tests, strict=True))
    ]
