"""The study's figures, read back from what its evaluation steps wrote, with intervals and pairs.

Per-task values come from the evaluation commands' own per-task outputs and the core
functions that define each metric (`AttackUnit.flag` for ATGEN's rates, the per-(task,
model) best-of-N `value`, the per-task Spearman, the killed / non-equivalent mutants), so a
figure here is the command's figure (checked in `collect`: a mismatch is an error, not a
silent second formula). Intervals and paired differences resample tasks
(atest.core.stats). Everything is written through the pydantic models below.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, computed_field

from atest.core.errors import ExternalError
from atest.core.io import read_jsonl_resumable
from atest.core.metrics.attack import AttackUnit
from atest.core.reproduce.plan import Evaluation, Plan
from atest.core.reproduce.preset import RL_MODELS
from atest.core.results import AttackEvalResult, BonResult, FidelityResult, MutationScoreResult
from atest.core.stats import TaskValue, bootstrap_ci, estimate, paired_diff, verdict
from atest.core.steps import StepRecord

ATGEN_RATES = ("io_accuracy", "attack_rate", "input_attack_rate")
METRICS = {
    "atgen": (*ATGEN_RATES, "bon", "mutation_score"),
    "utrl": ("bon", "fidelity", "mutation_score"),
}
LABELS = {
    "io_accuracy": "IO accuracy",
    "attack_rate": "attack rate",
    "input_attack_rate": "input attack rate",
    "bon": "best-of-N",
    "fidelity": "fidelity",
    "mutation_score": "mutation score",
}
TOLERANCE = 1e-9

PerTask = dict[str, TaskValue]


class Figure(BaseModel):
    value: float | None
    ci95: list[float] | None
    n_tasks: int


class ModelSplitResult(BaseModel):
    """One model on one split: each metric with its interval, ATGEN's rates by difficulty, the
    best-of-N curve, and the tests file the figures came from."""

    metrics: dict[str, Figure]
    by_difficulty: dict[str, dict[str, float | None]] = Field(default_factory=dict)
    bon_curve: dict[str, float] = Field(default_factory=dict)
    tests: str

    def flat(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, fig in self.metrics.items():
            out[name] = fig.value
            out[f"{name}_ci95"] = fig.ci95
        out["n_tasks"] = max((f.n_tasks for f in self.metrics.values()), default=0)
        if self.by_difficulty:
            out["by_difficulty"] = self.by_difficulty
        if self.bon_curve:
            out["bon_curve"] = self.bon_curve
        return out


class PairedFigure(BaseModel):
    diff: float | None
    ci95: list[float] | None
    n_tasks: int
    verdict: str  # higher, lower, no difference shown, not measured


class CommandEntry(BaseModel):
    name: str
    command: str
    seconds: float
    resumed: bool


class ValidationPoint(BaseModel):
    step: int
    score: float | None
    figures: dict[str, float]


class StudyResults(BaseModel):
    paper: str
    preset: str
    out: str
    headline_split: str
    headline_metric: str
    models: dict[str, str]  # name -> what `gen-tests --model` loads
    splits: dict[str, str]  # split -> prepared task file
    skipped: dict[str, str]  # split -> why it is not in the study
    n_tasks: dict[str, int]  # split -> tasks in its prepared file
    by_split: dict[str, dict[str, ModelSplitResult]]
    paired_by_split: dict[str, dict[str, dict[str, PairedFigure]]]
    validation: dict[str, list[ValidationPoint]]  # RL model -> its run's validation curve
    commands: list[CommandEntry]
    seconds: float = 0.0
    resamples: int
    seed: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def heldout(self) -> dict[str, dict[str, Any]]:
        """split -> model -> metrics, and the headline split flat as model -> metrics too."""
        view: dict[str, dict[str, Any]] = {
            split: {m: r.flat() for m, r in models.items()} for split, models in self.by_split.items()
        }
        for model, result in self.by_split.get(self.headline_split, {}).items():
            view[model] = result.flat()
        return view

    @computed_field  # type: ignore[prop-decorator]
    @property
    def paired(self) -> dict[str, dict[str, PairedFigure]]:
        """The headline split's paired differences, "<A>-vs-<B>" -> metric."""
        return self.paired_by_split.get(self.headline_split, {})


# ---- per-task values from each command's output ----


def attack_values(units_file: Path) -> dict[str, PerTask]:
    """rate -> task -> (units flagged, units): the clustering `attack_report` resamples."""
    units = [
        AttackUnit(
            r["task_id"], r["difficulty"], r["parsed"], r["valid_input"], r["io_accurate"], r["input_attack"]
        )
        for r in read_jsonl_resumable(units_file)
    ]
    out: dict[str, PerTask] = {}
    for rate in ATGEN_RATES:
        counts: dict[str, list[float]] = {}
        for u in units:
            c = counts.setdefault(u.task_id, [0.0, 0.0])
            c[0] += u.flag(rate)
            c[1] += 1
        out[rate] = {t: TaskValue(n, d) for t, (n, d) in counts.items()}
    return out


def bon_values(details_file: Path) -> PerTask:
    """task -> best-of-N value, the mean over solution models as in `bon_report`."""
    by_task: dict[str, list[float]] = {}
    for row in read_jsonl_resumable(details_file):
        by_task.setdefault(row["task_id"], []).append(float(row["value"]))
    return {t: TaskValue(sum(v) / len(v)) for t, v in by_task.items()}


def fidelity_values(per_task_file: Path) -> PerTask:
    """task -> Spearman, a constant task counted as 0 (UTRL's convention, `fidelity_report`)."""
    return {
        r["task_id"]: TaskValue(0.0 if r["spearman"] is None else float(r["spearman"]))
        for r in read_jsonl_resumable(per_task_file)
    }


def mutation_values(summary: MutationScoreResult | dict[str, Any]) -> PerTask:
    """task -> (mutants killed, non-equivalent mutants): the pooled score's ratio of sums."""
    if isinstance(summary, dict):
        summary = MutationScoreResult.model_validate(summary)
    return {r.task_id: TaskValue(float(r.n_killed), float(r.n_non_equivalent)) for r in summary.per_task}


def _check(name: str, mine: float | None, command: float | None, step: str) -> None:
    """The per-task values must give back the command's own figure (one formula, two readers)."""
    if mine is None and command is None:
        return
    if mine is None or command is None or not math.isclose(mine, command, abs_tol=TOLERANCE):
        raise ExternalError(
            f"{name}: per-task values give {mine} but step {step} reported {command}",
            "a metric's definition changed in one place only: see atest/core/reproduce/results.py",
        )


def evaluation_values(ev: Evaluation, results: dict[str, dict[str, Any]]) -> dict[str, PerTask]:
    """metric -> task -> value for one model on one split, each checked against its command."""
    values: dict[str, PerTask] = {}
    if "attack" in ev.steps:
        attack = AttackEvalResult.model_validate(results[ev.steps["attack"]])
        for rate, per_task in attack_values(ev.folder / "attack-units.jsonl").items():
            _check(rate, estimate(per_task), getattr(attack, rate), ev.steps["attack"])
            values[rate] = per_task
    if "bon" in ev.steps:
        bon = BonResult.model_validate(results[ev.steps["bon"]])
        values["bon"] = bon_values(ev.folder / "bon.jsonl")
        _check("bon", estimate(values["bon"]), bon.accuracy, ev.steps["bon"])
    if "fidelity" in ev.steps:
        fidelity = FidelityResult.model_validate(results[ev.steps["fidelity"]])
        values["fidelity"] = fidelity_values(ev.folder / "fidelity.jsonl")
        _check("fidelity", estimate(values["fidelity"]), fidelity.fidelity, ev.steps["fidelity"])
    if "mutation" in ev.steps:
        mutation = MutationScoreResult.model_validate(results[ev.steps["mutation"]])
        values["mutation_score"] = mutation_values(mutation)
        _check(
            "mutation_score",
            estimate(values["mutation_score"]),
            mutation.mutation_score,
            ev.steps["mutation"],
        )
    return values


# ---- the whole study ----


def pairs(paper: str, models: list[str]) -> list[tuple[str, str]]:
    """(A, B) for "A-vs-B", diff = A - B: each RL run against every other model, SFT against the
    warm-up and base, the warm-up against base."""
    rl = [m for m in models if m in RL_MODELS[paper]]
    out = [(a, b) for a in rl for b in models if b not in rl]
    out += [(a, b) for i, a in enumerate(rl) for b in rl[i + 1 :]]
    for a, b in (("sft", "warmup"), ("sft", "base"), ("warmup", "base")):
        if a in models and b in models:
            out.append((a, b))
    return out


def validation_curve(run_dir: Path) -> list[ValidationPoint]:
    """The test generator's validation history (the first phase that validated) of a run."""
    for path in sorted(run_dir.glob("**/validation.json")):
        state = json.loads(path.read_text())
        return [
            ValidationPoint(
                step=int(h["step"]),
                score=h.get("val/score"),
                figures={
                    k: float(v) for k, v in h.items() if k.startswith("val/") and isinstance(v, int | float)
                },
            )
            for h in state.get("history", [])
        ]
    return []


def collect(plan: Plan, records: list[StepRecord], seconds: float = 0.0) -> StudyResults:
    results = {r.name: r.result for r in records}
    ev_cfg = plan.preset.eval
    models = plan.preset.paper(plan.paper).models
    by_split: dict[str, dict[str, ModelSplitResult]] = {}
    values: dict[str, dict[str, dict[str, PerTask]]] = {}
    for ev in plan.evaluations:
        per_metric = evaluation_values(ev, results)
        values.setdefault(ev.split, {})[ev.model] = per_metric
        figures = {
            m: Figure(
                value=estimate(v),
                ci95=bootstrap_ci(v, resamples=ev_cfg.resamples, seed=ev_cfg.seed),
                n_tasks=len(v),
            )
            for m, v in per_metric.items()
        }
        attack = (
            AttackEvalResult.model_validate(results[ev.steps["attack"]]) if "attack" in ev.steps else None
        )
        bon = BonResult.model_validate(results[ev.steps["bon"]]) if "bon" in ev.steps else None
        curve = next(iter(bon.curve.values()), {}) if bon else {}
        by_split.setdefault(ev.split, {})[ev.model] = ModelSplitResult(
            metrics=figures,
            by_difficulty={
                d: {r: getattr(block, r) for r in ATGEN_RATES}
                for d, block in (attack.by_difficulty.items() if attack else ())
            },
            bon_curve={str(k): float(v) for k, v in curve.items()},
            tests=str(ev.folder / "tests.jsonl"),
        )
    paired_by_split: dict[str, dict[str, dict[str, PairedFigure]]] = {}
    for split, per_model in values.items():
        for a, b in pairs(plan.paper, [m for m in models if m in per_model]):
            row = {}
            for metric in per_model[a]:
                if metric not in per_model[b]:
                    continue
                d = paired_diff(
                    per_model[a][metric], per_model[b][metric], resamples=ev_cfg.resamples, seed=ev_cfg.seed
                )
                row[metric] = PairedFigure(diff=d.diff, ci95=d.ci95, n_tasks=d.n_tasks, verdict=verdict(d))
            paired_by_split.setdefault(split, {})[f"{a}-vs-{b}"] = row
    return StudyResults(
        paper=plan.paper,
        preset=plan.preset_name,
        out=str(plan.out),
        headline_split=plan.headline,
        headline_metric=plan.preset.paper(plan.paper).headline_metric,
        models=plan.models,
        splits={s: str(p) for s, p in plan.splits.items()},
        skipped=plan.skipped,
        n_tasks={s: len(read_jsonl_resumable(p)) for s, p in plan.splits.items() if p.exists()},
        by_split=by_split,
        paired_by_split=paired_by_split,
        validation={m: validation_curve(plan.out / "runs" / m) for m in models if m in RL_MODELS[plan.paper]},
        commands=[
            CommandEntry(name=r.name, command=r.command, seconds=r.seconds, resumed=r.resumed)
            for r in records
        ],
        seconds=seconds,
        resamples=ev_cfg.resamples,
        seed=ev_cfg.seed,
    )
