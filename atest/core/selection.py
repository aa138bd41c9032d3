"""Choosing one solution per task by the tests it passes (`atest filter`).

No gold tests are involved: this is the production use, where generated tests are the
only judge. The tests come from a file, or are generated here by a model through the same
resumable loop as `atest gen-tests` (`atest.core.gentests`), kept in a tests file so that
an interrupted or repeated filter never pays for the same generation twice. Candidates of
all requested models form one pool per task; the pick is the candidate passing most tests,
ties going to the earliest in (model order, index) so that the same inputs always give the
same file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from atest.core import gentests
from atest.core.checking import Progress
from atest.core.errors import InputError
from atest.core.generation.params import SamplingParams
from atest.core.metrics.bon import select_index, tied_best
from atest.core.metrics.inputs import EvalInputs, load_tasks, pick_models
from atest.core.metrics.scoring import CandidateCounts, score_candidates
from atest.core.metrics.testsfile import join_tests, read_tests_file
from atest.core.sandbox import Executor, Limits
from atest.core.tasks import Task

# ATGEN's prompt shows a code: in filtering, each prompt shows one of the task's candidates.
FILTER_PROMPTS = ("utrl", "cure", "atgen")
ATGEN_TESTS_PER_TASK = 10  # the authors' each_test_gen_num


@dataclass
class Selection:
    task_id: str
    model: str
    index: int
    code: str
    n_passed: int
    n_tests: int
    score: float  # fraction of the tests passed; 0 when the task has no tests
    n_tied: int  # candidates sharing the best count (1 means the tests decided alone)
    n_candidates: int
    passed: dict[str, list[int]]  # tests passed by every candidate, per model

    def to_dict(self) -> dict:
        return asdict(self)


def select_best(task: Task, counts: Sequence[CandidateCounts]) -> Selection:
    pool = [(c.model, i) for c in counts for i in range(len(c.passed))]
    passed = [p for c in counts for p in c.passed]
    chosen = select_index(passed, "first")
    model, index = pool[chosen]
    best = passed[chosen]
    n_tests = counts[0].n_tests
    return Selection(
        task_id=task.task_id,
        model=model,
        index=index,
        code=task.candidates[model][index],
        n_passed=best,
        n_tests=n_tests,
        score=best / n_tests if n_tests else 0.0,
        n_tied=len(tied_best(passed)),
        n_candidates=len(pool),
        passed={c.model: list(c.passed) for c in counts},
    )


def select_solutions(
    executor: Executor,
    tasks: Sequence[Task],
    tests: dict[str, list[dict]],
    models: Sequence[str],
    *,
    limits: Limits,
    progress: Progress | None = None,
) -> list[Selection]:
    """Run every candidate on its task's tests (large batches of whole tasks) and pick per task."""
    outcome = score_candidates(
        executor, tasks, tests, models, with_gold=False, limits=limits, every_model=False, progress=progress
    )
    by_task: dict[str, list[CandidateCounts]] = {}
    for c in outcome.counts:
        by_task.setdefault(c.task_id, []).append(c)
    return [select_best(t, by_task[t.task_id]) for t in tasks]


def below_threshold(selections: Sequence[Selection], min_pass: float) -> list[Selection]:
    """Tasks whose best candidate passes less than `min_pass` of the tests."""
    return [s for s in selections if s.score < min_pass]


@dataclass
class TestGeneration:
    """The model that writes the tests for `filter --model`, and how it samples."""

    choice: gentests.BackendChoice
    params: SamplingParams
    prompt: str = "utrl"
    n_tests: int = 12  # tests the utrl prompt asks for
    tests_per_task: int | None = None  # atgen: prompts per task, each showing a candidate

    def check(self) -> None:
        if self.prompt not in FILTER_PROMPTS:
            raise InputError(
                f"--prompt {self.prompt!r} is not available to filter",
                f"choose one of: {', '.join(FILTER_PROMPTS)}",
            )
        if self.tests_per_task is not None and self.prompt != "atgen":
            raise InputError("--tests-per-task applies to --prompt atgen", "use --prompt atgen or drop it")
        if self.prompt == "atgen" and self.tests_per_task is None:
            self.tests_per_task = ATGEN_TESTS_PER_TASK
        self.choice.check()

    @property
    def template(self) -> str:
        return gentests.PROMPTS[self.prompt]

    def meta(self) -> dict[str, Any]:
        """Recorded on every row, exactly as `atest gen-tests` records it (so either can resume the other)."""
        from atest.core.prompts import template_id

        return {
            "model": self.choice.model_id,
            "backend": self.choice.backend,
            "template": self.template,
            "template_id": template_id(self.template),
            "sampling": self.params.to_dict(),
        }


def default_tests_path(out: Path) -> Path:
    """Where `filter --model` keeps its tests unless told: beside --out, `selected.tests.jsonl`."""
    stem = out.name.removesuffix(".jsonl")
    return out.with_name(f"{stem}.tests.jsonl")


def generate_tests(
    tasks: Sequence[Task],
    generation: TestGeneration,
    out: Path,
    progress: Callable[[gentests.Progress], None] | None = None,
    models: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Make sure `out` holds a tests row for every task, generating only the missing ones.

    An existing file is always resumed: rows written with the same model, prompt and sampling
    are kept, and a file written with other settings is refused rather than mixed in.
    """
    generation.check()
    units, _ = gentests.prompt_units(
        tasks,
        generation.template,
        thinking=generation.choice.thinking,
        n_tests=generation.n_tests,
        tests_per_task=generation.tests_per_task,
        models=models,
    )
    gentests.check_output(out, resume=True, force=False)
    meta = generation.meta()
    try:
        done = gentests.done_keys(out, gentests.expected_meta(meta))
    except InputError as exc:
        raise InputError(
            exc.message,
            "filter with the settings it was written with, pass another --tests-out, or delete it",
        ) from exc
    stats = gentests.write_tests(
        units,
        generation.choice,
        generation.params,
        out,
        template=generation.template,
        meta=meta,
        done=done,
        progress=progress,
    )
    summary = gentests.summarize_tests(out, units)
    summary.pop("tests_per_task")
    return {
        **summary,
        "out": str(out),
        "model": generation.choice.model_id,
        "template_id": meta["template_id"],
        "n_written": stats.n_written,
        "n_skipped": stats.n_skipped,
        "generated_tokens": stats.n_tokens,
        "generate_s": round(stats.generate_s, 3),
    }


def inputs_with_generated_tests(
    tasks_path: str | Path,
    requested_models: Sequence[str] | None,
    generation: TestGeneration,
    tests_out: Path,
    progress: Callable[[gentests.Progress], None] | None = None,
) -> tuple[EvalInputs, dict[str, Any]]:
    """The filter's inputs when a model writes the tests: tasks without candidates are counted
    and get no prompt (generating for them would be wasted), the others get a tests row each."""
    tasks, warnings = load_tasks(tasks_path)
    models = pick_models(tasks, requested_models)
    inputs = EvalInputs(tasks=[], tests={}, models=models, tests_source=str(tests_out), warnings=warnings)
    missing = [t.task_id for t in tasks if not any(t.candidates.get(m) for m in models)]
    inputs.skip("no_candidates", missing, f"tasks without candidates from {', '.join(models)}")
    kept = [t for t in tasks if t.task_id not in set(missing)]
    summary = generate_tests(kept, generation, tests_out, progress, models=models)
    joined = join_tests(read_tests_file(tests_out), tasks, tests_out)
    inputs.tasks = kept
    inputs.tests = {t.task_id: joined.tests.get(t.task_id, []) for t in kept}
    inputs.n_malformed_tests = joined.n_malformed
    inputs.n_duplicate_tests = joined.n_duplicates
    return inputs, summary
