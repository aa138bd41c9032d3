"""The demo's settings and the measurements it reads back from its steps' outputs.

`atest demo` (atest/commands/demo.py) runs each step as an `atest` command; this module
holds what those steps leave behind, turned into records the report and the plots use:
the rows of test sources, what the gold tests say about each candidate pool (chance
level, whether it can separate test sources at all) and the training run's learning curve.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atest.core.errors import ExternalError, InputError
from atest.core.io import read_jsonl_resumable
from atest.core.metrics.testsfile import GROUND_TRUTH
from atest.core.mutation.pools import CANDIDATES_KEY
from atest.core.steps import StepRecord
from atest.core.training.modes import TEST_GRPO_MODES, get_mode

if TYPE_CHECKING:
    from atest.core.results import TrainResult

GOLD = GROUND_TRUTH
MUTANT_POOL = CANDIDATES_KEY
DEFAULT_MODEL = "smollm2-135m"
MODES = TEST_GRPO_MODES
MODEL_ROLES = ("base", "warm-up", "grpo")
TEST_REWARDS = ("atgen", "utrl_test")  # the reward functions of the test generator (TRL's names)
# The reward components a learning curve shows, in this order, when the run logged them.
COMPONENTS = ("format", "io_accuracy", "attack", "discrimination", "validity")


@dataclass(frozen=True)
class DemoConfig:
    out: Path
    n_tasks: int = 4
    mutants: int = 3  # buggy codes per task: one generated test each, so they cost model time
    pool_size: int = 8  # candidates in the mutant pool: best-of-N reaches N = pool_size
    solutions: int = 2
    model: str = DEFAULT_MODEL
    mode: str = "atgen-static"
    warmup_steps: int = 8  # two passes over the eight warm-up examples: enough for the format
    train_steps: int = 3
    max_new_tokens: int = 80
    solution_tokens: int = 192
    workers: int | None = None

    @property
    def prompt(self) -> str:
        return get_mode(self.mode).test_prompt

    def validate(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"--mode {self.mode!r}: use {', '.join(MODES[:-1])} or {MODES[-1]}")
        for name in (
            "n_tasks",
            "mutants",
            "pool_size",
            "solutions",
            "warmup_steps",
            "train_steps",
            "max_new_tokens",
            "solution_tokens",
        ):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be at least 1")


@dataclass
class SourceRow:
    """One test source (a model's tests, the statement examples, the gold tests) and its scores."""

    role: str  # gold, examples, or the model's stage: base, warm-up, grpo
    label: str
    tests: str
    tests_per_task: float
    bon: dict[str, float]  # pool -> best-of-N accuracy at the pool's largest N
    bon_curve: dict[str, dict[int, float]]  # pool -> N -> accuracy
    fidelity: float | None
    mutation_score: float | None
    rates: dict[str, float] | None = None  # ATGEN's rates on the evaluation tasks (model rows)


@dataclass(frozen=True)
class PoolTruth:
    """A candidate pool as the gold tests see it."""

    name: str
    n_tasks: int
    n_with_correct: int  # tasks where some candidate passes every gold test
    n_mixed: int  # tasks with a correct and a wrong candidate: only these can rank test sources
    chance: dict[int, float]  # N -> expected accuracy of picking one of the first N at random

    @property
    def separates(self) -> bool:
        return self.n_mixed > 0


@dataclass(frozen=True)
class StepPoint:
    """One logged GRPO step: the mean reward and the mean of each of its components."""

    step: int
    reward: float
    components: dict[str, float]


@dataclass
class DemoResult:
    config: DemoConfig
    steps: list[StepRecord] = field(default_factory=list)
    rows: list[SourceRow] = field(default_factory=list)
    pools: dict[str, PoolTruth] = field(default_factory=dict)
    learning: list[StepPoint] = field(default_factory=list)
    report: Path | None = None
    plots: list[Path] = field(default_factory=list)
    seconds: float = 0.0


def pool_truth(name: str, details: Sequence[dict[str, Any]], ns: Sequence[int]) -> PoolTruth:
    """Read `atest bon --tests ground_truth --out` details: which candidates are correct."""
    flags = [
        [passed == row["n_gold_tests"] for passed in row["gold_passed"]]
        for row in details
        if row["model"] == name and row["n_gold_tests"] > 0
    ]
    if not flags:
        raise ExternalError(f"the gold-test run of pool {name!r} reported no task")
    chance = {n: sum(sum(f[:n]) / min(n, len(f)) for f in flags) / len(flags) for n in ns}
    return PoolTruth(
        name=name,
        n_tasks=len(flags),
        n_with_correct=sum(any(f) for f in flags),
        n_mixed=sum(any(f) and not all(f) for f in flags),
        chance=chance,
    )


def learning_curve(metrics: Path) -> list[StepPoint]:
    """The test generator's GRPO steps in a training run's metrics.jsonl, one point per step.

    A step logged again after a resume replaces the killed run's record, as in
    `RunDir.read_metrics`. Only steps rewarded by a test-generator reward count (UTRL's code
    phases train the other model); its components are logged as `<reward function>/<name>`.
    """
    latest: dict[tuple[str, int], tuple[str, dict[str, Any]]] = {}
    for row in read_jsonl_resumable(metrics):
        fn = next((f for f in TEST_REWARDS if f"rewards/{f}/mean" in row), None)
        if fn is not None and "reward" in row and "step" in row:
            latest[(str(row.get("phase", "")), int(row["step"]))] = fn, row
    points = []
    for index, (fn, row) in enumerate(latest.values(), 1):
        components = {
            name: float(row[f"{fn}/{name}"]) for name in COMPONENTS if _is_number(row.get(f"{fn}/{name}"))
        }
        points.append(StepPoint(index, float(row["reward"]), components))
    return points


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def training_tasks() -> tuple[Path, Path]:
    """Easy stdio tasks shipped with the cpu-smoke presets, disjoint from the bundled sample.

    The warm-up file holds the last four of the preset's eight tasks and the cpu-smoke
    presets train on the first four (`max_tasks: 4`), so GRPO never sees a task whose gold
    tests the warm-up taught.
    """
    from atest.core.training.config import config_dir

    folder = config_dir() / "cpu-smoke"
    paths = folder / "warmup-tasks.jsonl", folder / "tasks.jsonl"
    for path in paths:
        if not path.is_file():
            raise InputError(
                f"{path}: the cpu-smoke training tasks are missing",
                "reinstall atest (they ship inside the package), or set ATEST_CONFIG_DIR to a folder holding cpu-smoke/",
            )
    return paths


def trained_model(summary: TrainResult) -> str:
    path = summary.models.get("test_generator")
    if not path:
        raise ExternalError("the training run reported no test-generator model", "see results/train.json")
    return str(path)
