"""The evaluations behind `atest bon`, `atest fidelity` and `atest attack-eval`.

Each one runs all of its programs through one executor in large batches, then computes
its figures from pass counts with the pure functions in `bon`, `fidelity` and `attack`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from atest.core.checking import Test, well_formed
from atest.core.errors import InputError
from atest.core.metrics.attack import AttackUnit, attack_report
from atest.core.metrics.bon import BonResult, CandidateScores, TieRule, bon_report, bon_value, tied_best
from atest.core.metrics.fidelity import FidelityResult, TaskScoreVectors, fidelity_report
from atest.core.metrics.inputs import EvalInputs, load_tasks
from atest.core.metrics.scoring import (
    CandidateCounts,
    PairCheck,
    Progress,
    ScoringOutcome,
    attack_units,
    score_candidates,
)
from atest.core.metrics.testsfile import read_tests_file
from atest.core.sandbox import Executor, Limits


@dataclass
class BonRun:
    result: BonResult
    outcome: ScoringOutcome
    details: list[dict]


def evaluate_bon(
    inputs: EvalInputs,
    executor: Executor,
    *,
    n: int | None,
    ns: Sequence[int],
    rule: TieRule,
    drop_invalid: bool,
    limits: Limits,
    seed: int,
    progress: Progress | None = None,
) -> BonRun:
    run_n = None if n is None else max([n, *ns])  # without --n the headline uses every candidate
    outcome = score_candidates(
        executor, inputs.tasks, inputs.tests, inputs.models,
        n=run_n, with_gold=True, drop_invalid=drop_invalid, limits=limits, progress=progress,
    )  # fmt: skip
    cells = [_cell(c) for c in outcome.counts]
    result = bon_report(cells, n=n, ns=ns, rule=rule, seed=seed)
    return BonRun(
        result, outcome, [_detail(c, cell, n, rule) for c, cell in zip(outcome.counts, cells, strict=True)]
    )


def _cell(counts: CandidateCounts) -> CandidateScores:
    return CandidateScores(
        counts.task_id, counts.model, counts.n_tests, tuple(counts.passed), tuple(counts.correct)
    )


def _detail(counts: CandidateCounts, cell: CandidateScores, n: int | None, rule: TieRule) -> dict:
    k = len(cell.passed) if n is None else n
    return {
        "task_id": counts.task_id,
        "model": counts.model,
        "n": k,
        "n_tests": counts.n_tests,
        "n_gold_tests": counts.n_gold,
        "passed": counts.passed[:k],
        "gold_passed": counts.gold_passed[:k],
        "tied_best": tied_best(cell.passed[:k]),
        "value": bon_value(cell, k, rule),
    }


@dataclass
class FidelityRun:
    result: FidelityResult
    outcome: ScoringOutcome


def evaluate_fidelity(
    inputs: EvalInputs,
    executor: Executor,
    *,
    n: int | None,
    drop_invalid: bool,
    limits: Limits,
    seed: int,
    progress: Progress | None = None,
) -> FidelityRun:
    outcome = score_candidates(
        executor, inputs.tasks, inputs.tests, inputs.models,
        n=n, with_gold=True, drop_invalid=drop_invalid, limits=limits, progress=progress,
    )  # fmt: skip
    by_task: dict[str, list[CandidateCounts]] = {}
    for c in outcome.counts:
        by_task.setdefault(c.task_id, []).append(c)
    vectors = [
        TaskScoreVectors(
            task_id,
            generated=tuple(p for c in group for p in c.passed),
            gold=tuple(p for c in group for p in c.gold_passed),
        )
        for task_id, group in by_task.items()
    ]
    return FidelityRun(fidelity_report(vectors, seed=seed), outcome)


@dataclass
class AttackRun:
    report: dict
    n_executions: int
    skipped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    units: list[AttackUnit] = field(default_factory=list)  # per generated pair: what the rates count


def evaluate_attack(
    tasks_path: str | Path,
    tests_path: str | Path,
    executor: Executor,
    *,
    limits: Limits,
    seed: int,
    progress: Progress | None = None,
) -> AttackRun:
    """ATGEN's rates over every generated pair of an `--prompt atgen` tests file."""
    tasks, warnings = load_tasks(tasks_path)
    by_id = {t.task_id: t for t in tasks}
    rows = read_tests_file(tests_path, ground_truth_allowed=False)
    cases: list[PairCheck] = []
    no_gold: list[str] = []
    for row in rows:
        task = by_id.get(row.task_id)
        if task is None:
            raise InputError(
                f"{row.location}: task_id {row.task_id!r} is not in the tasks file",
                f"was {tests_path} generated from this --tasks file?",
            )
        if not task.gold_solutions:
            no_gold.append(row.location)
            continue
        buggy = row.buggy_code
        if buggy is None:
            if row.buggy_index is None:
                raise InputError(
                    f"{row.location}: needs 'buggy_code' or 'buggy_index'",
                    "write it with `atest gen-tests --prompt atgen`",
                )
            if row.buggy_index >= len(task.buggy_code):
                raise InputError(
                    f"{row.location}: buggy_index {row.buggy_index} but task {task.task_id!r} has {len(task.buggy_code)} buggy codes"
                )
            buggy = task.buggy_code[row.buggy_index]
        good = [Test.from_dict(t) for t in row.tests if well_formed(t, task.kind)]
        n_failed = (len(row.tests) - len(good)) or (0 if good else 1)
        cases.extend(PairCheck(task, buggy, t) for t in good)
        cases.extend(PairCheck(task, buggy, None) for _ in range(n_failed))
    run = AttackRun(report={}, n_executions=0, warnings=warnings)
    if no_gold:
        run.skipped["no_gold_solution"] = len(no_gold)
        run.warnings.append(
            f"rows whose task has no gold solution: skipped {len(no_gold)}, first at {no_gold[0]}"
        )
    if not cases:
        raise InputError(f"{tests_path}: no row can be evaluated", "; ".join(run.warnings) or None)
    run.units, run.n_executions = attack_units(executor, cases, limits=limits, progress=progress)
    run.report = attack_report(run.units, seed=seed)
    return run
