"""The demo's steps: each one `atest` command run as a child process, its `--json` kept.

Each step goes through the shared runner (atest/commands/_steps.py: results in
`results/<step>.json`, a rerun skips finished steps and continues a killed one). This
orchestration runs the CLI, so it lives in the command layer; the core reads the results
back (atest.core.demo) and writes the report (atest.core.demo_report).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from atest.commands._steps import Resume, StepHook, StepRunner
from atest.core.demo import (
    GOLD,
    MODEL_ROLES,
    MUTANT_POOL,
    DemoConfig,
    DemoResult,
    SourceRow,
    learning_curve,
    pool_truth,
    trained_model,
    training_tasks,
)
from atest.core.errors import ExternalError
from atest.core.io import read_jsonl_resumable
from atest.core.results import (
    AttackEvalResult,
    BonResult,
    FidelityResult,
    MutationScoreResult,
    Result,
    TrainResult,
)
from atest.core.training.modes import get_mode

__all__ = ["DemoRunner", "Resume", "Source"]

R = TypeVar("R", bound=Result)


class Source(NamedTuple):
    """A test source: its role (see SourceRow.role), row label, and tests file (or ground_truth)."""

    role: str
    label: str
    tests: str


class DemoRunner:
    def __init__(
        self,
        config: DemoConfig,
        on_step: StepHook = lambda i, label, command: None,
        root_argv: list[str] | None = None,
    ):
        self.cfg = config
        self.result = DemoResult(config)
        self.runner = StepRunner(
            config.out / "results",
            what="demo",
            rerun=f"atest demo --out {config.out}",
            on_step=on_step,
            root_argv=root_argv,
        )
        self.runner.records = self.result.steps

    def step(self, name: str, label: str, argv: list[str], resume: Resume | None = None) -> dict[str, Any]:
        """One demo step through the shared runner (see atest/commands/_steps.py)."""
        return self.runner.step(name, label, argv, resume)

    def typed(
        self, model: type[R], name: str, label: str, argv: list[str], resume: Resume | None = None
    ) -> R:
        """A step whose `--json` is read as its command's result model (atest.core.results)."""
        return model.model_validate(self.step(name, label, argv, resume))

    def run(self) -> DemoResult:
        out = self.cfg.out
        start = time.perf_counter()
        out.mkdir(parents=True, exist_ok=True)
        try:
            self._prepare()
            sources = self._generate_tests()
            self._evaluate(sources)
        finally:
            self.runner.close()
        self.result.learning = learning_curve(out / "train" / "metrics.jsonl")
        self.result.seconds = time.perf_counter() - start
        return self.result

    @property
    def _workers(self) -> list[str]:
        return ["--workers", str(self.cfg.workers)] if self.cfg.workers else []

    @property
    def _cache(self) -> list[str]:
        return ["--cache-dir", str(self.cfg.out / "exec-cache")]

    def _prepare(self) -> None:
        cfg, out = self.cfg, self.cfg.out
        sample = ["prepare", "--source", "sample", "--limit", str(cfg.n_tasks), "--verify"]
        self.step("prepare", f"prepare and verify {cfg.n_tasks} bundled tasks, {cfg.mutants} mutants each as buggy code", [
            *sample, "--mutants", str(cfg.mutants), "--mutants-into", "buggy", "--out", str(out / "tasks.jsonl"),
            "--force", *self._workers, *self._cache,
        ])  # fmt: skip
        self.step("mutant-pool", f"a candidate pool of {cfg.pool_size} per task: the gold solution and mutants", [
            *sample, "--mutants", str(cfg.pool_size), "--mutants-into", "candidates",
            "--out", str(out / "mutant-pool.jsonl"), "--force", *self._workers, *self._cache,
        ])  # fmt: skip
        pool = out / "model-pool.jsonl"
        solutions = [
            "gen-solutions", "--tasks", str(out / "tasks.jsonl"), "--model", cfg.model, "--n", str(cfg.solutions),
            "--temperature", "1.0", "--max-new-tokens", str(cfg.solution_tokens), "--out", str(pool),
        ]  # fmt: skip
        self.step(
            "solutions", f"sample {cfg.solutions} solutions per task with {cfg.model}", solutions,
            Resume((pool, pool.with_name(pool.name + ".partial.jsonl")), [*solutions, "--resume"]),
        )  # fmt: skip

    def _generate_tests(self) -> list[Source]:
        """Tests from the statements' examples and from the base, warmed-up and trained model."""
        cfg, out = self.cfg, self.cfg.out
        warmup_tasks, train_tasks = training_tasks()
        self.step("tests-examples", "take tests from the statements' examples", [
            "example-tests", "--tasks", str(out / "tasks.jsonl"), "--out", str(out / "tests-examples.jsonl"),
            "--force",
        ])  # fmt: skip
        self._gen_tests("tests-base", f"generate tests with the base {cfg.model}", cfg.model)
        warm = out / "warmup"
        self.step("warmup", f"format warm-up of {cfg.model} on four easy tasks ({cfg.warmup_steps} SFT steps)", [
            "warmup", "--tasks", str(warmup_tasks), "--model", cfg.model, "--prompt", cfg.prompt,
            "--steps", str(cfg.warmup_steps), "--batch-size", "2", "--lr", "1e-4", "--max-length", "768",
            "--out", str(warm), "--force", *self._workers,
        ])  # fmt: skip
        self._gen_tests("tests-warm", "generate tests with the warmed-up model", str(warm))
        train = out / "train"
        trained = self.typed(TrainResult, "train", f"train it with GRPO ({cfg.mode}, {cfg.train_steps} steps, training tasks)", [
            "train", "--mode", cfg.mode, "--preset", "cpu-smoke", "--tasks", str(train_tasks),
            *_train_overrides(cfg, warm), "--out", str(train),
        ], Resume((train / "run.json",), ["train", "--resume", "--out", str(train)]))  # fmt: skip
        self._gen_tests("tests-trained", "generate tests with the trained model", trained_model(trained))
        return [
            Source("gold", "gold tests (upper bound)", GOLD),
            Source("examples", "statement examples", str(out / "tests-examples.jsonl")),
            Source("base", f"{cfg.model} (base)", str(out / "tests-base.jsonl")),
            Source("warm-up", f"{cfg.model} + format warm-up", str(out / "tests-warm.jsonl")),
            Source(
                "grpo",
                f"{cfg.model} + warm-up + GRPO ({cfg.train_steps} steps)",
                str(out / "tests-trained.jsonl"),
            ),
        ]

    def _gen_tests(self, name: str, label: str, model: str) -> None:
        cfg, out = self.cfg, self.cfg.out / f"{name}.jsonl"
        argv = [
            "gen-tests", "--tasks", str(self.cfg.out / "tasks.jsonl"), "--model", model, "--prompt", cfg.prompt,
            "--max-new-tokens", str(cfg.max_new_tokens), "--out", str(out),
        ]  # fmt: skip
        self.step(name, label, argv, Resume((out,), [*argv, "--resume"]))

    def _bon(self, name: str, label: str, tests: str, pool: str, path: Path, ns: list[int]) -> BonResult:
        return self.typed(BonResult, f"{name}-{_slug(pool)}", f"best-of-N on the {pool} pool with {label}", [
            "bon", "--tasks", str(path), "--tests", tests, "--solution-model", pool, "--ns", _ns(ns),
            *self._workers, *self._cache,
        ])  # fmt: skip

    def _evaluate(self, sources: list[Source]) -> None:
        """Best-of-N on each pool that can rank test sources, fidelity, mutation score, ATGEN rates.

        The mutant pool holds the gold solution and killed mutants, so it always can; the
        model's own samples can only when some task has a correct one and a wrong one.
        """
        cfg, out = self.cfg, self.cfg.out
        pools = {
            MUTANT_POOL: (
                out / "mutant-pool.jsonl",
                list(range(1, _smallest_pool(out / "mutant-pool.jsonl") + 1)),
            ),
            cfg.model: (out / "model-pool.jsonl", list(range(1, cfg.solutions + 1))),
        }
        gold: dict[str, BonResult] = {}
        for pool, (path, ns) in pools.items():
            details = out / f"gold-{_slug(pool)}.jsonl"
            gold[pool] = self.typed(BonResult, f"gold-{_slug(pool)}", f"best-of-N on the {pool} pool with the gold tests", [
                "bon", "--tasks", str(path), "--tests", GOLD, "--solution-model", pool, "--ns", _ns(ns),
                "--out", str(details), "--force", *self._workers, *self._cache,
            ])  # fmt: skip
            self.result.pools[pool] = pool_truth(pool, read_jsonl_resumable(details), ns)
        ranked = {p: v for p, v in pools.items() if p == MUTANT_POOL or self.result.pools[p].separates}
        for i, (role, label, tests) in enumerate(sources):
            if tests == GOLD:
                bon = {pool: gold[pool] for pool in ranked}
            else:
                bon = {pool: self._bon(f"bon-{i}", label, tests, pool, *at) for pool, at in ranked.items()}
            fidelity = None
            if tests != GOLD:
                fidelity = self.typed(FidelityResult, f"fidelity-{i}", f"fidelity of {label} on the mutant pool", [
                    "fidelity", "--tasks", str(out / "mutant-pool.jsonl"), "--tests", tests,
                    *self._workers, *self._cache,
                ]).fidelity  # fmt: skip
            mutation = self.typed(MutationScoreResult, f"mutation-{i}", f"mutation score of {label}", [
                "mutation-score", "--tasks", str(out / "tasks.jsonl"), "--tests", tests,
                *self._workers, *self._cache,
            ])  # fmt: skip
            rates = None
            if role in MODEL_ROLES and cfg.prompt == "atgen":
                rates = self.typed(AttackEvalResult, f"attack-{i}", f"ATGEN's rates of {label} against the buggy code", [
                    "attack-eval", "--tasks", str(out / "tasks.jsonl"), "--tests", tests,
                    *self._workers, *self._cache,
                ])  # fmt: skip
            self.result.rows.append(
                SourceRow(
                    role=role,
                    label=label,
                    tests=tests,
                    tests_per_task=bon[MUTANT_POOL].mean_tests_per_task,
                    bon={p: r.accuracy for p, r in bon.items()},
                    bon_curve={p: {int(k): v for k, v in r.curve[p].items()} for p, r in bon.items()},
                    fidelity=fidelity,
                    mutation_score=mutation.mutation_score,
                    rates=_rates(rates),
                )
            )


def _smallest_pool(path: Path) -> int:
    """Candidates in the smallest mutant pool: a small program may not yield `--pool-size` mutants,
    and best-of-N compares equal pools only."""
    sizes = [
        len(row["candidates"][MUTANT_POOL])
        for row in read_jsonl_resumable(path)
        if row.get("candidates", {}).get(MUTANT_POOL)
    ]
    if not sizes:
        raise ExternalError(f"{path}: no task got a mutant pool", "see the prepare step's counts above")
    return min(sizes)


def _rates(report: AttackEvalResult | None) -> dict[str, float] | None:
    if report is None:
        return None
    return {
        "parsed": 1.0 - float(report.parse_failure_rate),  # type: ignore[arg-type]
        "io_accuracy": float(report.io_accuracy),  # type: ignore[arg-type]
        "attack": float(report.attack_rate),  # type: ignore[arg-type]
    }


def _train_overrides(cfg: DemoConfig, model: Path) -> list[str]:
    """The cpu-smoke preset on the demo's model. The preset's one thread suits a CPU shared with
    a test suite; the demo has the machine to itself, so torch takes every core."""
    sets = [f"test_model.path={model}", f"grpo.max_completion_length={cfg.max_new_tokens}", "threads=null"]
    sets += get_mode(cfg.mode).demo_overrides(cfg.model, cfg.train_steps)
    return [arg for pair in sets for arg in ("--set", pair)]


def _ns(ns: list[int]) -> str:
    return ",".join(str(n) for n in ns)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name)
