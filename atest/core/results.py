"""What every command's `--json` prints: one pydantic model per summary, the schema users rely on.

A command builds its model (the `from_*` constructors below turn the core's records into
one) and prints `model_dump(mode="json")`; `atest demo` and `atest reproduce` read their
steps' results back through the same models (`parse`), never by string key, so renaming a
field here is a schema change every reader sees. `atest schema COMMAND` prints the JSON
Schema of a command's summary, and docs/results.md is generated from these models
(`atest schema --markdown`); a test checks both against what the commands really print.

Every model forbids unknown keys: a summary that gains, loses or renames a key no longer
matches its schema. The failure object every command prints with `--json` is `ErrorResult`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_serializer

if TYPE_CHECKING:
    from atest.core.demo import DemoResult
    from atest.core.gentests import RunStats, Unit
    from atest.core.metrics.evaluate import AttackRun, BonRun, FidelityRun
    from atest.core.metrics.inputs import EvalInputs
    from atest.core.metrics.utrl_paper import PaperCell
    from atest.core.mutation.score import ScoreReport
    from atest.core.prepare import PrepareSummary
    from atest.core.reproduce.results import StudyResults
    from atest.core.selection import Selection
    from atest.core.synth.build import SynthSummary
    from atest.core.tasks import Task
    from atest.core.training.runner import TrainSummary

CI = list[float] | None
_CI = "95% percentile-bootstrap interval over tasks [low, high]; null when it cannot be computed"
_SKIPPED = "reason -> number of tasks left out for it"
_WARNINGS = "warnings printed on stderr, one line each"
_EXECUTIONS = "sandbox executions run (a cached result counts as one)"
_TESTS = "the tests file read, or ground_truth"


class Result(BaseModel):
    """A command's `--json` object. Keys absent from the model are refused (schema drift)."""

    model_config = ConfigDict(extra="forbid")
    # Fields that are left out of the object, not printed as null, when they are None.
    omit_if_none: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _drop_absent(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        for name in self.omit_if_none:
            if data.get(name, 0) is None:
                del data[name]
        return data

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class Part(Result):
    """A nested object of a summary (documented with the command that prints it)."""


# ---- errors ----


class ErrorDetail(Part):
    exit_code: int = Field(
        description="the process's exit code: 2 bad input, 3 infrastructure, 130 interrupted"
    )
    kind: Literal["bad_input", "infrastructure", "interrupted", "error"] = Field(
        description="bad_input (2), infrastructure (3) or interrupted (130)"
    )
    message: str = Field(description="what went wrong, one line")
    hint: str | None = Field(description="what to do about it, or null")


class ErrorResult(Result):
    """What every command prints with `--json` when it fails (and exits 2, 3 or 130)."""

    error: ErrorDetail = Field(description="the failure")


# ---- prepare ----


class MutantPool(Part):
    k: int = Field(description="mutants asked for per task (--mutants)")
    seed: int = Field(description="the mutant seed (--mutant-seed)")
    into: str = Field(description="where they went (--mutants-into): buggy, candidates or both")
    n_mutants: int = Field(description="mutants generated")
    outcomes: dict[str, int] = Field(description="outcome on the gold tests -> mutants")
    n_buggy: int = Field(description="mutants kept as buggy code")
    n_buggy_passing_public: int = Field(description="of those, mutants that pass the public examples")
    n_tasks_with_buggy: int = Field(description="tasks that got mutant buggy code")
    n_candidates: int = Field(description="mutants put in the 'mutants' candidate pool")
    n_tasks_with_candidates: int = Field(description="tasks that got a 'mutants' candidate pool")
    n_tasks_with_public_examples: int = Field(description="tasks whose statement shows examples")
    skipped: dict[str, int] = Field(description="reason -> tasks that got no mutants")


class PrepareResult(Result):
    """`atest prepare --json`."""

    source: str = Field(description="the dataset kind (--source)")
    path: str | None = Field(description="--path as given, or null")
    out: str | None = Field(description="the task file written, or null for a dry run")
    n_in: int = Field(description="records read")
    n_out: int = Field(description="tasks kept")
    n_dropped: int = Field(description="records dropped (n_in - n_out)")
    dropped_by_reason: dict[str, int] = Field(description="reason -> records dropped for it")
    verified: bool = Field(description="whether the gold solutions were run on their tests (--verify)")
    n_gold_in: int = Field(description="gold solutions read")
    n_gold_syntax_error: int = Field(description="gold solutions dropped for a syntax error")
    n_gold_checked: int = Field(description="gold solutions run on their tests")
    n_gold_verified: int = Field(description="gold solutions that passed every test")
    n_tests: int = Field(description="gold tests kept")
    n_executions: int = Field(description=_EXECUTIONS)
    n_apps_outputs_rewrapped: int = Field(description="APPS outputs rewrapped into a list")
    n_mutants: int = Field(description="mutants generated (0 without --mutants)")
    mutants: MutantPool | None = Field(description="what --mutants produced, or null")
    n_problems: int = Field(description="records skipped with a problem")
    problems: list[str] = Field(description="the first 20 problems")

    @classmethod
    def from_summary(
        cls, summary: PrepareSummary, source: str, path: str | None, out: Path | None
    ) -> PrepareResult:
        return cls.model_validate(
            {"source": source, "path": path, "out": str(out) if out else None, **summary.to_json()}
        )


# ---- synth ----


class SynthSplit(Part):
    n_tasks: int = Field(description="tasks in the split")
    families: list[str] = Field(description="families in the split")
    path: str = Field(description="the split's task file")


class SynthResult(Result):
    """`atest synth --json`."""

    omit_if_none = ("splits",)

    n_tasks: int = Field(description="tasks generated")
    n_families: int = Field(description="families they come from")
    per_family: dict[str, int] = Field(description="family -> tasks")
    n_bugs: int = Field(description="hand-written bugs kept as buggy code")
    n_bugs_dropped_equivalent: int = Field(description="bugs dropped: no gold test tells them apart")
    n_dropped_tasks: int = Field(description="tasks dropped (a gold program failed its tests)")
    n_executions: int = Field(description=_EXECUTIONS)
    splits: dict[str, SynthSplit] | None = Field(
        None, description="with --splits: split name -> its file (absent otherwise)"
    )
    out: str = Field(description="the task file written")

    @classmethod
    def from_summary(
        cls, summary: SynthSummary, splits: dict[str, tuple[Path, Sequence[Task]]] | None, out: Path
    ) -> SynthResult:
        """`splits`: split name -> (its file, its tasks), or None without --splits."""
        return cls.model_validate(
            {
                **asdict(summary),
                "splits": None
                if splits is None
                else {
                    name: {
                        "n_tasks": len(part),
                        "families": sorted({t.extra["family"] for t in part}),
                        "path": str(path),
                    }
                    for name, (path, part) in splits.items()
                },
                "out": str(out),
            }
        )


class SynthFamilies(Result):
    """`atest synth --list --json`."""

    families: dict[str, str] = Field(description="family name -> task kind (stdio or functional)")


# ---- generation ----


class GenTestsResult(Result):
    """`atest gen-tests --json`."""

    omit_if_none = ("tasks_without_buggy_code", "tasks_without_candidates")

    n_tasks: int = Field(description="tasks with a row in --out")
    n_rows: int = Field(description="rows in --out (one per prompt)")
    n_tests: int = Field(description="tests parsed")
    n_responses: int = Field(description="responses generated")
    n_parse_failures: int = Field(description="responses that gave no test")
    n_malformed_responses: int = Field(description="responses not in the prompt's format")
    n_prompts: int = Field(description="prompts of this run")
    n_written: int = Field(description="rows written now")
    n_skipped: int = Field(description="rows kept from an earlier run (--resume)")
    tasks_without_buggy_code: int | None = Field(
        None, description="without --tests-per-task: tasks with no buggy code (no prompt)"
    )
    tasks_without_candidates: int | None = Field(
        None, description="with --tests-per-task: tasks with no candidates (no prompt)"
    )
    tests_per_task_min: int = Field(description="fewest tests of a task")
    tests_per_task_mean: float = Field(description="mean tests per task")
    tests_per_task_max: int = Field(description="most tests of a task")
    generated_tokens: int = Field(description="tokens generated now")
    generate_s: float = Field(description="seconds spent generating")
    tokens_per_s: float = Field(description="generation speed")
    wall_s: float = Field(description="seconds of the whole run")
    model: str = Field(description="the model's id")
    backend: str = Field(
        description="the backend that generated: hf, openai or vllm (--backend, auto resolved)"
    )
    template_id: str = Field(description="the prompt template and its version")
    out: str = Field(description="the tests file written")

    @classmethod
    def from_run(
        cls,
        totals: dict[str, Any],
        tasks: Sequence[Task],
        units: Sequence[Unit],
        stats: RunStats,
        without_key: str,
        n_without: int,
        *,
        model: str,
        backend: str,
        template_id: str,
        out: Path,
    ) -> GenTestsResult:
        """`totals` is `gentests.summarize_tests` of the output file; `without_key` names the
        count of tasks that got no prompt (tasks_without_buggy_code or _candidates)."""
        totals = dict(totals)
        per_task = totals.pop("tests_per_task")
        counts = [per_task.get(t.task_id, 0) for t in tasks]
        return cls.model_validate(
            {
                **totals,
                "n_prompts": len(units),
                "n_written": stats.n_written,
                "n_skipped": stats.n_skipped,
                without_key: n_without,
                "tests_per_task_min": min(counts),
                "tests_per_task_mean": sum(counts) / len(counts),
                "tests_per_task_max": max(counts),
                "generated_tokens": stats.n_tokens,
                "generate_s": round(stats.generate_s, 3),
                "tokens_per_s": round(stats.tokens_per_s, 2),
                "wall_s": round(stats.wall_s, 3),
                "model": model,
                "backend": backend,
                "template_id": template_id,
                "out": str(out),
            }
        )


class GenSolutionsResult(Result):
    """`atest gen-solutions --json`."""

    n_tasks: int = Field(description="tasks in --out")
    n_candidates: int = Field(description="candidates under candidates_key")
    n_no_code: int = Field(description="responses without a python block (kept as empty programs)")
    candidates_key: str = Field(description="the pool's key under each task's candidates")
    n_skipped: int = Field(description="tasks kept from an earlier run (--resume)")
    generated_tokens: int = Field(description="tokens generated now")
    tokens_per_s: float = Field(description="generation speed")
    backend: str = Field(
        description="the backend that generated: hf, openai or vllm (--backend, auto resolved)"
    )
    out: str = Field(description="the task file written")

    @classmethod
    def from_rows(
        cls, rows: Sequence[dict[str, Any]], key: str, stats: RunStats, out: Path, backend: str
    ) -> GenSolutionsResult:
        return cls(
            n_tasks=len(rows),
            n_candidates=sum(len(r["codes"]) for r in rows),
            n_no_code=sum(r["n_no_code"] for r in rows),
            candidates_key=key,
            n_skipped=stats.n_skipped,
            generated_tokens=stats.n_tokens,
            tokens_per_s=round(stats.tokens_per_s, 2),
            backend=backend,
            out=str(out),
        )

    @classmethod
    def finished(
        cls, pools: Sequence[Sequence[str]], key: str, out: Path, backend: str
    ) -> GenSolutionsResult:
        """A finished run resumed: every task counts as skipped, nothing generated."""
        codes = [c for pool in pools for c in pool]
        return cls(
            n_tasks=len(pools),
            n_candidates=len(codes),
            n_no_code=sum(1 for c in codes if not c),
            candidates_key=key,
            n_skipped=len(pools),
            generated_tokens=0,
            tokens_per_s=0.0,
            backend=backend,
            out=str(out),
        )


class ExampleTestsResult(Result):
    """`atest example-tests --json`."""

    n_tasks: int = Field(description="tasks read")
    n_tests: int = Field(description="example tests written")
    n_tasks_without_examples: int = Field(description="statements without readable examples")
    out: str = Field(description="the tests file written")


# ---- evaluation ----


def _input_counts(run: BonRun | FidelityRun, inputs: EvalInputs) -> dict[str, Any]:
    return {
        "n_invalid_dropped": sum(run.outcome.n_invalid.values()),
        "n_malformed_tests": inputs.n_malformed_tests,
        "n_duplicate_tests": inputs.n_duplicate_tests,
        "n_executions": run.outcome.n_executions,
        "skipped": inputs.skipped,
        "warnings": inputs.warnings,
    }


class BonResult(Result):
    """`atest bon --json`."""

    accuracy: float = Field(description="best-of-N accuracy, mean over tasks of the per-model mean")
    n_tasks: int = Field(description="tasks evaluated")
    per_model: dict[str, float] = Field(description="solution model -> accuracy")
    ci95: CI = Field(description=_CI)
    oracle_accuracy: float = Field(
        description="the ground-truth bound: some candidate of the first N is correct"
    )
    per_model_oracle: dict[str, float] = Field(description="solution model -> ground-truth bound")
    curve: dict[str, dict[str, float]] = Field(description="solution model -> N -> accuracy (--ns, --plot)")
    oracle_curve: dict[str, dict[str, float]] = Field(description="solution model -> N -> ground-truth bound")
    n: int | None = Field(description="--n, or null for every candidate")
    tie: str = Field(description="the tie rule: expected, first or last")
    tests: str = Field(description=_TESTS)
    mean_tests_per_task: float = Field(description="mean tests per (task, model)")
    n_tasks_without_tests: int = Field(description="tasks with no test (their pick is a tie)")
    n_invalid_dropped: int = Field(description="generated tests dropped by --drop-invalid")
    n_malformed_tests: int = Field(description="malformed tests in the tests file, ignored")
    n_duplicate_tests: int = Field(description="duplicate tests of a task, counted once")
    n_executions: int = Field(description=_EXECUTIONS)
    skipped: dict[str, int] = Field(description=_SKIPPED)
    warnings: list[str] = Field(description=_WARNINGS)

    @classmethod
    def from_run(cls, run: BonRun, inputs: EvalInputs) -> BonResult:
        r = run.result
        n_tests = [c.n_tests for c in run.outcome.counts]
        return cls(
            accuracy=r.accuracy,
            n_tasks=r.n_tasks,
            per_model=r.per_model,
            ci95=r.ci95,
            oracle_accuracy=r.oracle,
            per_model_oracle=r.per_model_oracle,
            curve={m: {str(k): v for k, v in pts.items()} for m, pts in r.curve.items()},
            oracle_curve={m: {str(k): v for k, v in pts.items()} for m, pts in r.oracle_curve.items()},
            n=r.n,
            tie=r.rule,
            tests=inputs.tests_source,
            mean_tests_per_task=sum(n_tests) / len(n_tests),
            n_tasks_without_tests=len({c.task_id for c in run.outcome.counts if c.n_tests == 0}),
            **_input_counts(run, inputs),
        )


class BonPaperResult(Result):
    """`atest bon --paper utrl --json`: UTRL's own rules (last-index ties, each model on its own)."""

    accuracy: float = Field(description="mean over models of each model's accuracy")
    per_model: dict[str, float] = Field(description="solution model -> accuracy")
    per_model_score: dict[str, float] = Field(description="solution model -> mean gold score of its picks")
    per_model_tasks: dict[str, int] = Field(description="solution model -> tasks")
    n_tasks_without_tests: int = Field(description="tasks without a parsed test (candidate 0 taken)")
    n_tasks: int = Field(description="tasks evaluated")
    n: int | None = Field(description="--n, or null for every candidate")
    tie: Literal["last"] = Field(description="the tie rule: always last")
    paper: Literal["utrl"] = Field(description="the paper whose evaluation rules were followed")
    tests: str = Field(description=_TESTS)
    n_executions: int = Field(description=_EXECUTIONS)
    skipped: dict[str, int] = Field(description=_SKIPPED)
    warnings: list[str] = Field(description=_WARNINGS)

    @classmethod
    def from_cells(
        cls, cells: Sequence[PaperCell], inputs: EvalInputs, n: int | None, tests: str, n_executions: int
    ) -> BonPaperResult:
        from atest.core.metrics.utrl_paper import bon_summary

        return cls.model_validate(
            {
                **bon_summary(cells),
                "n_tasks": len({c.task_id for c in cells}),
                "n": n,
                "tie": "last",
                "paper": "utrl",
                "tests": tests,
                "n_executions": n_executions,
                "skipped": inputs.skipped,
                "warnings": inputs.warnings,
            }
        )


class FidelityResult(Result):
    """`atest fidelity --json`."""

    fidelity: float = Field(description="mean per-task Spearman (a constant task counts as 0)")
    n_tasks: int = Field(description="tasks evaluated")
    n_constant: int = Field(description="tasks whose scores are constant (Spearman undefined)")
    fidelity_excluding_constant: float | None = Field(
        description="mean Spearman over the other tasks; null when every task is constant"
    )
    ci95: CI = Field(description=_CI)
    ci95_excluding_constant: CI = Field(description="the interval of fidelity_excluding_constant")
    solution_models: list[str] = Field(description="the solution models whose candidates were ranked")
    tests: str = Field(description=_TESTS)
    n_invalid_dropped: int = Field(description="generated tests dropped by --drop-invalid")
    n_malformed_tests: int = Field(description="malformed tests in the tests file, ignored")
    n_duplicate_tests: int = Field(description="duplicate tests of a task, counted once")
    n_executions: int = Field(description=_EXECUTIONS)
    skipped: dict[str, int] = Field(description=_SKIPPED)
    warnings: list[str] = Field(description=_WARNINGS)

    @classmethod
    def from_run(cls, run: FidelityRun, inputs: EvalInputs, tests: str) -> FidelityResult:
        r = run.result
        return cls(
            fidelity=r.fidelity,
            n_tasks=r.n_tasks,
            n_constant=r.n_constant,
            fidelity_excluding_constant=r.fidelity_excluding_constant,
            ci95=r.ci95,
            ci95_excluding_constant=r.ci95_excluding_constant,
            solution_models=inputs.models,
            tests=tests,
            **_input_counts(run, inputs),
        )


class FidelityPaperResult(Result):
    """`atest fidelity --paper utrl --json`: UTRL's rules (a constant vector counts as 0)."""

    fidelity: float = Field(description="mean per-task Spearman")
    n_tasks: int = Field(description="tasks evaluated")
    paper: Literal["utrl"] = Field(description="the paper whose evaluation rules were followed")
    solution_models: list[str] = Field(description="the solution models whose candidates were ranked")
    tests: str = Field(description=_TESTS)
    n_executions: int = Field(description=_EXECUTIONS)
    skipped: dict[str, int] = Field(description=_SKIPPED)
    warnings: list[str] = Field(description=_WARNINGS)

    @classmethod
    def from_per_task(
        cls, per_task: dict[str, float], inputs: EvalInputs, tests: str, n_executions: int
    ) -> FidelityPaperResult:
        return cls(
            fidelity=sum(per_task.values()) / len(per_task),
            n_tasks=len(per_task),
            paper="utrl",
            solution_models=inputs.models,
            tests=tests,
            n_executions=n_executions,
            skipped=inputs.skipped,
            warnings=inputs.warnings,
        )


class AttackRates(Part):
    """ATGEN's rates over a set of generated tests, each with its interval."""

    n_units: int = Field(description="generated tests (one per prompt)")
    n_tasks: int = Field(description="tasks they belong to")
    io_accuracy: float | None = Field(description="fraction whose expected output is the gold's")
    io_accuracy_ci95: CI = Field(description=_CI)
    attack_rate: float | None = Field(description="fraction IO-accurate and failing the buggy code")
    attack_rate_ci95: CI = Field(description=_CI)
    input_attack_rate: float | None = Field(description="fraction whose input tells gold and bug apart")
    input_attack_rate_ci95: CI = Field(description=_CI)
    invalid_input_rate: float | None = Field(description="fraction parsed but whose input the gold rejects")
    invalid_input_rate_ci95: CI = Field(description=_CI)
    parse_failure_rate: float | None = Field(description="fraction of responses that gave no test")
    parse_failure_rate_ci95: CI = Field(description=_CI)


class AttackEvalResult(AttackRates):
    """`atest attack-eval --json`: the rates over every generated test, then per difficulty."""

    by_difficulty: dict[str, AttackRates] = Field(description="difficulty -> the same rates")
    n_executions: int = Field(description=_EXECUTIONS)
    skipped: dict[str, int] = Field(description=_SKIPPED)
    warnings: list[str] = Field(description=_WARNINGS)

    @classmethod
    def from_run(cls, run: AttackRun) -> AttackEvalResult:
        return cls.model_validate(
            {**run.report, "n_executions": run.n_executions, "skipped": run.skipped, "warnings": run.warnings}
        )


class TaskMutationScore(Part):
    task_id: str = Field(description="the task")
    score: float | None = Field(
        description="killed / non-equivalent; null when no mutant is known non-equivalent"
    )
    n_killed: int = Field(description="mutants the valid tests kill")
    n_non_equivalent: int = Field(description="mutants known to differ from the gold solution")


class MutationScoreResult(Result):
    """`atest mutation-score --json`."""

    mutation_score: float | None = Field(description="killed / non-equivalent mutants, pooled over tasks")
    ci95: CI = Field(description=_CI)
    mean_task_score: float | None = Field(description="mean of the per-task scores")
    mean_task_ci95: CI = Field(description="the interval of mean_task_score")
    n_tasks: int = Field(description="tasks scored")
    n_mutants: int = Field(description="mutants generated")
    n_killed: int = Field(description="mutants the valid tests kill")
    n_non_equivalent: int = Field(description="mutants known to differ from the gold solution")
    gold: dict[str, int] = Field(
        description="outcomes on the gold tests (killed, crashed, timed_out, survived) and of the probes "
        "on survivors (distinguished, likely_equivalent, unprobed) -> mutants"
    )
    skipped: dict[str, int] = Field(description=_SKIPPED)
    tests: str = Field(description=_TESTS)
    k: int = Field(description="mutants per task (--k)")
    seed: int = Field(description="seed of the mutants and the bootstrap (--seed)")
    warnings: list[str] = Field(description=_WARNINGS)
    per_task: list[TaskMutationScore] = Field(description="each task's score")

    @classmethod
    def from_report(
        cls, report: ScoreReport, tests: str, k: int, seed: int, warnings: list[str]
    ) -> MutationScoreResult:
        per_task = [
            {
                "task_id": r.task_id,
                "score": r.score,
                "n_killed": r.n_killed,
                "n_non_equivalent": r.n_non_equivalent,
            }
            for r in report.tasks
        ]
        return cls.model_validate(
            {
                **report.summary(),
                "tests": tests,
                "k": k,
                "seed": seed,
                "warnings": warnings,
                "per_task": per_task,
            }
        )


class FilterGeneration(Part):
    """The tests `filter --model` generated (or kept from --tests-out) before selecting."""

    n_tasks: int = Field(description="tasks with a tests row")
    n_rows: int = Field(description="rows in the tests file")
    n_tests: int = Field(description="tests parsed")
    n_responses: int = Field(description="responses generated")
    n_parse_failures: int = Field(description="responses that gave no test")
    n_malformed_responses: int = Field(description="responses not in the prompt's format")
    out: str = Field(description="the tests file (--tests-out)")
    model: str = Field(description="the model's id")
    template_id: str = Field(description="the prompt template and its version")
    n_written: int = Field(description="rows written now")
    n_skipped: int = Field(description="rows kept from an earlier run")
    generated_tokens: int = Field(description="tokens generated now")
    generate_s: float = Field(description="seconds spent generating")


class FilterResult(Result):
    """`atest filter --json` (printed before the exit 1 of an unmet --min-pass too)."""

    omit_if_none = ("generation",)

    n_tasks: int = Field(description="tasks that got a selected solution")
    out: str = Field(description="the selections file written")
    mean_score: float = Field(description="mean fraction of tests the selected candidates pass")
    n_decided_by_tie: int = Field(description="selections made among tied candidates")
    n_tasks_without_tests: int = Field(description="tasks with no test")
    min_pass: float | None = Field(description="--min-pass, or null")
    n_below_min_pass: int = Field(description="tasks whose pick passes less than min_pass")
    below_min_pass: list[str] = Field(description="those tasks")
    tests: str = Field(description="the tests file read or generated")
    solution_models: list[str] = Field(description="the solution models whose candidates were considered")
    skipped: dict[str, int] = Field(description=_SKIPPED)
    warnings: list[str] = Field(description=_WARNINGS)
    generation: FilterGeneration | None = Field(
        None, description="with --model: the generation (absent otherwise)"
    )

    @classmethod
    def from_selections(
        cls,
        selections: Sequence[Selection],
        failing: Sequence[Selection],
        inputs: EvalInputs,
        out: Path,
        min_pass: float | None,
        generated: dict[str, Any] | None,
    ) -> FilterResult:
        return cls.model_validate(
            {
                "n_tasks": len(selections),
                "out": str(out),
                "mean_score": sum(s.score for s in selections) / len(selections),
                "n_decided_by_tie": sum(1 for s in selections if s.n_tied > 1),
                "n_tasks_without_tests": sum(1 for s in selections if s.n_tests == 0),
                "min_pass": min_pass,
                "n_below_min_pass": len(failing),
                "below_min_pass": [s.task_id for s in failing],
                "tests": inputs.tests_source,
                "solution_models": inputs.models,
                "skipped": inputs.skipped,
                "warnings": inputs.warnings,
                "generation": generated,
            }
        )


class RewardResult(Result):
    """`atest reward --json`."""

    kind: str = Field(description="the reward (--kind)")
    paper: str | None = Field(description="--paper, or null")
    n_responses: int = Field(description="responses scored")
    mean_reward: float = Field(description="mean reward")
    components: dict[str, float] = Field(description="component -> its mean over the responses")
    out: str = Field(description="the scored rows written")

    @classmethod
    def from_scores(cls, kind: str, paper: str | None, scores: Sequence[Any], out: Path) -> RewardResult:
        """`scores` are the rows' reward results (`.score`, `.components`)."""
        names = sorted({k for r in scores for k in r.components})
        return cls(
            kind=kind,
            paper=paper,
            n_responses=len(scores),
            mean_reward=sum(r.score for r in scores) / len(scores),
            components={k: sum(r.components.get(k, 0.0) for r in scores) / len(scores) for k in names},
            out=str(out),
        )


# ---- training ----


class TrainResult(Result):
    """`atest train --json` (`--print-config` prints the resolved config instead)."""

    out: str = Field(description="the run folder")
    mode: str = Field(description="the training mode")
    models: dict[str, str] = Field(description="role (test_generator, code_generator) -> final model folder")
    phases: list[str] = Field(description="the phases run, in order")
    seconds: float = Field(description="wall time")
    rewards: dict[str, dict[str, float]] = Field(
        description="phase -> steps, reward_first, reward_last (means of the first and last fifth)"
    )
    time_per_step: dict[str, float] = Field(description="category -> seconds per step, and reward_fraction")
    validation: dict[str, dict[str, float]] = Field(description="phase -> validation scores")
    fast: dict[str, Any] = Field(description="the fast CPU path used, with its reasons")

    @classmethod
    def from_summary(cls, summary: TrainSummary) -> TrainResult:
        return cls(
            out=str(summary.out),
            mode=summary.mode,
            models=summary.models,
            phases=summary.phases,
            seconds=round(summary.seconds, 2),
            rewards=summary.rewards,
            time_per_step=summary.time_per_step,
            validation=summary.validation,
            fast=summary.fast,
        )


class WarmupResult(Result):
    """`atest warmup --json`."""

    out: str = Field(description="the warmed-up model's folder")
    model: str = Field(description="the model warmed up (--model)")
    prompt: str = Field(description="the format taught: utrl or atgen")
    n_examples: int = Field(description="supervised examples")
    steps: int = Field(description="optimizer steps")
    loss_first: float = Field(description="loss of the first step")
    loss_last: float = Field(description="loss of the last step")


class MergeLoraResult(Result):
    """`atest merge-lora --json`."""

    out: str = Field(description="the merged model's folder")
    base: str = Field(description="the base model (--base)")
    adapter: str = Field(description="the adapter folder (--adapter)")
    seconds: float = Field(description="wall time")


# ---- orchestration ----


class DemoPool(Part):
    n_tasks: int = Field(description="tasks with a candidate pool")
    n_mixed: int = Field(
        description="tasks with a correct and a wrong candidate (only these rank test sources)"
    )
    separates: bool = Field(description="whether the pool can rank test sources at all")
    chance: dict[str, float] = Field(description="N -> accuracy of a random pick among the first N")


class DemoRates(Part):
    parsed: float = Field(description="fraction of responses that gave a test")
    io_accuracy: float = Field(description="ATGEN's IO accuracy")
    attack: float = Field(description="ATGEN's attack rate")


class DemoRow(Part):
    tests: str = Field(description="the test source's label")
    tests_per_task: float = Field(description="mean tests per task")
    bon: dict[str, float] = Field(description="pool -> best-of-N accuracy at the pool's largest N")
    bon_curve: dict[str, dict[str, float]] = Field(description="pool -> N -> accuracy")
    fidelity: float | None = Field(description="fidelity on the mutant pool; null for the gold tests")
    mutation_score: float | None = Field(description="mutation score, or null")
    rates: DemoRates | None = Field(description="ATGEN's rates (model rows, atgen prompt), or null")


class DemoStepPoint(Part):
    """One GRPO step of the test generator; a component is absent when the run did not log it."""

    omit_if_none = ("format", "io_accuracy", "attack", "discrimination", "validity")

    step: int = Field(description="the step's index")
    reward: float = Field(description="mean reward")
    format: float | None = Field(None, description="mean format component")
    io_accuracy: float | None = Field(None, description="mean io_accuracy component")
    attack: float | None = Field(None, description="mean attack component")
    discrimination: float | None = Field(None, description="mean discrimination component")
    validity: float | None = Field(None, description="mean validity component")


class DemoStep(Part):
    name: str = Field(description="the step's name (its result is results/NAME.json)")
    seconds: float = Field(description="wall time (0 when reused)")
    resumed: bool = Field(description="whether a saved result was reused")


class DemoSummary(Result):
    """`atest demo --json`."""

    out: str = Field(description="the demo's folder")
    report: str = Field(description="report.md")
    plots: list[str] = Field(description="the figures written")
    seconds: float = Field(description="wall time")
    pools: dict[str, DemoPool] = Field(description="candidate pool -> what the gold tests say about it")
    rows: list[DemoRow] = Field(description="one row per test source, as in the table")
    learning: list[DemoStepPoint] = Field(description="the training run's learning curve")
    steps: list[DemoStep] = Field(description="the steps run")

    @classmethod
    def from_result(cls, result: DemoResult) -> DemoSummary:
        return cls.model_validate(
            {
                "out": str(result.config.out),
                "report": str(result.report),
                "plots": [str(p) for p in result.plots],
                "seconds": result.seconds,
                "pools": {
                    name: {
                        "n_tasks": t.n_tasks,
                        "n_mixed": t.n_mixed,
                        "separates": t.separates,
                        "chance": {str(n): v for n, v in t.chance.items()},
                    }
                    for name, t in result.pools.items()
                },
                "rows": [
                    {
                        "tests": r.label,
                        "tests_per_task": r.tests_per_task,
                        "bon": r.bon,
                        "bon_curve": {
                            p: {str(n): v for n, v in pts.items()} for p, pts in r.bon_curve.items()
                        },
                        "fidelity": r.fidelity,
                        "mutation_score": r.mutation_score,
                        "rates": r.rates,
                    }
                    for r in result.rows
                ],
                "learning": [{"step": p.step, "reward": p.reward, **p.components} for p in result.learning],
                "steps": [{"name": s.name, "seconds": s.seconds, "resumed": s.resumed} for s in result.steps],
            }
        )


class PlanStep(Part):
    name: str = Field(description="the step's name")
    kind: str = Field(description="what the step does (split, prepare, train, gen-tests, an evaluation...)")
    label: str = Field(description="one line on the step")
    command: str = Field(description="the command it runs")
    resume: str | None = Field(description="the command that continues it when killed, or null")
    expected_cost: float = Field(description="expected cost, in cost_unit")


class ReproducePlan(Result):
    """`atest reproduce PAPER --print-plan --json`."""

    paper: str = Field(description="atgen or utrl")
    preset: str = Field(description="the preset")
    gpu: bool = Field(description="whether the preset wants a GPU")
    out: str = Field(description="the study folder")
    cost_unit: str = Field(description="the unit of expected_cost")
    expected_cost: float = Field(description="expected total cost (preset cost factors, not a measurement)")
    models: dict[str, str] = Field(description="model name -> what gen-tests --model loads")
    splits: dict[str, str] = Field(description="split -> its prepared task file")
    skipped: dict[str, str] = Field(description="split -> why it is not in the study")
    steps: list[PlanStep] = Field(description="every step, in order")


class ReproduceResult(Result):
    """`atest reproduce PAPER --json` (results.json holds the whole study)."""

    out: str = Field(description="the study folder")
    report: str = Field(description="report.md")
    results: str = Field(description="results.json")
    models: dict[str, str] = Field(description="model name -> what gen-tests --model loads")
    heldout: dict[str, dict[str, Any]] = Field(
        description="split -> model -> metrics; the headline split also flat as model -> metrics"
    )
    paired: dict[str, dict[str, Any]] = Field(
        description="the headline split's paired differences: 'A-vs-B' -> metric -> diff, ci95, n_tasks, verdict"
    )
    skipped: dict[str, str] = Field(description="split -> why it is not in the study")
    seconds: float = Field(description="wall time")

    @classmethod
    def from_study(cls, results: StudyResults, folder: Path) -> ReproduceResult:
        return cls.model_validate(
            {
                "out": str(folder),
                "report": str(folder / "report.md"),
                "results": str(folder / "results.json"),
                **results.model_dump(
                    mode="json", include={"models", "heldout", "paired", "skipped", "seconds"}
                ),
            }
        )


# ---- the registry ----

# command -> the shapes of its `--json` object (the first is the usual one).
RESULTS: dict[str, tuple[type[Result], ...]] = {
    "prepare": (PrepareResult,),
    "synth": (SynthResult, SynthFamilies),
    "gen-tests": (GenTestsResult,),
    "gen-solutions": (GenSolutionsResult,),
    "example-tests": (ExampleTestsResult,),
    "bon": (BonResult, BonPaperResult),
    "fidelity": (FidelityResult, FidelityPaperResult),
    "attack-eval": (AttackEvalResult,),
    "mutation-score": (MutationScoreResult,),
    "filter": (FilterResult,),
    "reward": (RewardResult,),
    "train": (TrainResult,),
    "warmup": (WarmupResult,),
    "merge-lora": (MergeLoraResult,),
    "demo": (DemoSummary,),
    "reproduce": (ReproduceResult, ReproducePlan),
    "error": (ErrorResult,),
}

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

R = TypeVar("R", bound=Result)


def known(command: str) -> tuple[type[Result], ...]:
    from atest.core.errors import InputError

    if command not in RESULTS:
        raise InputError(f"no --json schema for {command!r}", f"known: {', '.join(RESULTS)}")
    return RESULTS[command]


def _adapter(command: str) -> TypeAdapter[Any]:
    models = known(command)
    return TypeAdapter(models[0] if len(models) == 1 else Union[models])  # noqa: UP007


def json_schema(command: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of what `atest COMMAND --json` prints on success."""
    schema = _adapter(command).json_schema()
    return {"$schema": JSON_SCHEMA_DIALECT, **schema, "title": f"atest {command} --json"}


def parse(command: str, data: dict[str, Any]) -> Result:
    """A command's `--json` object as its model (any of its shapes); refused when it drifted."""
    return _adapter(command).validate_python(data)


# ---- docs/results.md ----


def _type(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "anyOf" in prop:
        return " or ".join(_type(p) for p in prop["anyOf"])
    if "const" in prop:
        return f"`{prop['const']!r}`".replace("'", '"')
    if "enum" in prop:
        return " or ".join(f'`"{v}"`' for v in prop["enum"])
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_type(prop.get('items', {}))}"
    if kind == "object":
        values = prop.get("additionalProperties")
        return f"object of {_type(values)}" if isinstance(values, dict) else "object"
    return {"integer": "int", "number": "number", "string": "string", "boolean": "bool", "null": "null"}.get(
        kind, kind
    )


def _table(name: str, schema: dict[str, Any]) -> list[str]:
    lines = [f"### {name}", ""]
    if schema.get("description"):
        lines += [" ".join(schema["description"].split()), ""]
    lines += ["| field | type | meaning |", "| --- | --- | --- |"]
    required = set(schema.get("required", []))
    for field, prop in schema.get("properties", {}).items():
        optional = "" if field in required else " (may be absent)"
        meaning = prop.get("description", "").replace("|", "\\|")
        lines.append(f"| `{field}` | {_type(prop)}{optional} | {meaning} |")
    return [*lines, ""]


def markdown() -> str:
    """docs/results.md: every command's `--json` fields, generated from the models above."""
    lines = [
        "# `--json` results",
        "",
        "<!-- Generated by `atest schema --markdown > docs/results.md` from atest/core/results.py;"
        " do not edit by hand (tests/test_results.py checks it). -->",
        "",
        "With `--json` a command prints exactly one JSON object on stdout: its summary below on",
        "success, the error object on failure. `atest schema COMMAND` prints the JSON Schema of a",
        "command's summary; every object refuses keys it does not list, so a script can rely on them.",
        "A metric that is not a number (NaN) is printed as null.",
        "",
    ]
    documented: set[str] = set()
    for command, models in RESULTS.items():
        lines += [f"## {command}" if command == "error" else f"## atest {command}", ""]
        for model in models:
            schema = model.model_json_schema()
            defs = schema.get("$defs", {})
            lines += _table(model.__name__, schema)
            for name, sub in defs.items():
                if name not in documented:
                    documented.add(name)
                    lines += _table(name, sub)
    return "\n".join(lines).rstrip() + "\n"
