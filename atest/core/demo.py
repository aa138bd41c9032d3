"""The main job in miniature: prepare, pools, tests before and after training, evaluation, report.

Every step is one `atest` command, run as a child process exactly as a user would type it,
with `--json` captured into `results/<step>.json`. So the report can list the commands that
reproduce each number, a failed step says which command failed, and an interrupted demo
resumes at the first step without a result file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atest.core.errors import ExternalError, InputError
from atest.core.io import write_json_atomic, write_text_atomic

GOLD = "ground_truth"
DEFAULT_MODEL = "smollm2-135m"


@dataclass(frozen=True)
class DemoConfig:
    out: Path
    n_tasks: int = 4
    mutants: int = 3
    solutions: int = 2
    model: str = DEFAULT_MODEL
    mode: str = "atgen-static"
    warmup_steps: int = 12
    train_steps: int = 3
    max_new_tokens: int = 80
    solution_tokens: int = 192
    workers: int | None = None

    @property
    def prompt(self) -> str:
        return "utrl" if self.mode == "utrl" else "atgen"

    def validate(self) -> None:
        if self.mode not in ("utrl", "atgen-static", "atgen-unconditional", "atgen-adaptive"):
            raise InputError(
                f"--mode {self.mode!r}: use utrl, atgen-static, atgen-unconditional or atgen-adaptive"
            )
        for name in (
            "n_tasks",
            "solutions",
            "warmup_steps",
            "train_steps",
            "max_new_tokens",
            "solution_tokens",
        ):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be at least 1")


@dataclass
class StepRecord:
    name: str
    label: str
    command: str
    seconds: float
    resumed: bool
    result: dict[str, Any]


@dataclass
class SourceRow:
    """One test source (a model's tests, the statement examples, the gold tests) and its scores."""

    label: str
    tests: str
    tests_per_task: float
    bon: dict[str, float]
    bon_curve: dict[str, dict[int, float]]
    fidelity: float | None
    mutation_score: float | None


@dataclass
class DemoResult:
    config: DemoConfig
    steps: list[StepRecord] = field(default_factory=list)
    rows: list[SourceRow] = field(default_factory=list)
    report: Path | None = None
    plot: Path | None = None
    seconds: float = 0.0


StepHook = Callable[[int, str, str], None]


class DemoRunner:
    def __init__(self, config: DemoConfig, on_step: StepHook = lambda i, label, command: None):
        self.cfg = config
        self.on_step = on_step
        self.results_dir = config.out / "results"
        self.result = DemoResult(config)
        self._index = 0

    def step(self, name: str, label: str, argv: list[str]) -> dict[str, Any]:
        """Run `atest ARGV --json` once; a saved result means it already ran."""
        self._index += 1
        command = "atest " + " ".join(_quote(a) for a in argv)
        self.on_step(self._index, label, command)
        saved = self.results_dir / f"{name}.json"
        if saved.exists():
            result = json.loads(saved.read_text())
            self.result.steps.append(StepRecord(name, label, command, 0.0, True, result))
            return result
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "atest", *argv, "--json"],
            stdout=subprocess.PIPE,
            stderr=None,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise ExternalError(
                f"demo step '{name}' failed (exit {proc.returncode}): {command}",
                f"see the messages above; rerun `atest demo --out {self.cfg.out}` to resume from this step",
            )
        try:
            result = json.loads(proc.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError) as exc:
            raise ExternalError(f"demo step '{name}' printed no JSON summary: {command}") from exc
        write_json_atomic(saved, result)
        self.result.steps.append(StepRecord(name, label, command, seconds, False, result))
        return result

    def run(self) -> DemoResult:
        cfg, out = self.cfg, self.cfg.out
        start = time.perf_counter()
        out.mkdir(parents=True, exist_ok=True)
        workers = ["--workers", str(cfg.workers)] if cfg.workers else []
        cache = ["--cache-dir", str(out / "exec-cache")]
        tasks, pool = out / "tasks.jsonl", out / "tasks-with-candidates.jsonl"
        warmup_tasks, train_tasks = training_tasks()
        gen = ["--prompt", cfg.prompt, "--max-new-tokens", str(cfg.max_new_tokens)]

        self.step("prepare", "prepare and verify bundled tasks, with mutants as bugs and candidates", [
            "prepare", "--source", "sample", "--limit", str(cfg.n_tasks), "--verify",
            "--mutants", str(cfg.mutants), "--out", str(tasks), *workers, *cache,
        ])  # fmt: skip
        self.step("solutions", f"sample {cfg.solutions} solutions per task with {cfg.model}", [
            "gen-solutions", "--tasks", str(tasks), "--model", cfg.model, "--n", str(cfg.solutions),
            "--temperature", "1.0", "--max-new-tokens", str(cfg.solution_tokens), "--out", str(pool),
        ])  # fmt: skip
        self.step("tests-examples", "take tests from the statements' examples", [
            "example-tests", "--tasks", str(pool), "--out", str(out / "tests-examples.jsonl"),
        ])  # fmt: skip
        self.step("tests-base", f"generate tests with the base {cfg.model}", [
            "gen-tests", "--tasks", str(pool), "--model", cfg.model, *gen, "--out", str(out / "tests-base.jsonl"),
        ])  # fmt: skip
        warm = out / "warmup"
        self.step("warmup", f"format warm-up of {cfg.model} on four easy tasks ({cfg.warmup_steps} SFT steps)", [
            "warmup", "--tasks", str(warmup_tasks), "--model", cfg.model, "--prompt", cfg.prompt,
            "--steps", str(cfg.warmup_steps), "--batch-size", "2", "--lr", "1e-4", "--max-length", "768",
            "--out", str(warm), "--force", *workers,
        ])  # fmt: skip
        self.step("tests-warm", "generate tests with the warmed-up model", [
            "gen-tests", "--tasks", str(pool), "--model", str(warm), *gen, "--out", str(out / "tests-warm.jsonl"),
        ])  # fmt: skip
        trained = self.step("train", f"train it with GRPO ({cfg.mode}, {cfg.train_steps} steps, training tasks)", [
            "train", "--mode", cfg.mode, "--preset", "cpu-smoke", "--tasks", str(train_tasks),
            *_train_overrides(cfg, warm), "--out", str(out / "train"),
        ])  # fmt: skip
        self.step("tests-trained", "generate tests with the trained model", [
            "gen-tests", "--tasks", str(pool), "--model", trained_model(trained), *gen,
            "--out", str(out / "tests-trained.jsonl"),
        ])  # fmt: skip
        sources = [
            (f"{cfg.model} (base)", str(out / "tests-base.jsonl")),
            (f"{cfg.model} + format warm-up", str(out / "tests-warm.jsonl")),
            (f"{cfg.model} + warm-up + GRPO ({cfg.train_steps} steps)", str(out / "tests-trained.jsonl")),
            ("statement examples", str(out / "tests-examples.jsonl")),
            ("gold tests (upper bound)", GOLD),
        ]
        ns = ",".join(str(n) for n in _powers(cfg.solutions))
        for i, (label, tests) in enumerate(sources):
            bon = self.step(f"bon-{i}", f"best-of-N with {label}", [
                "bon", "--tasks", str(pool), "--tests", tests, "--ns", ns, *workers, *cache,
            ])  # fmt: skip
            fidelity = None
            if tests != GOLD:
                fidelity = self.step(f"fidelity-{i}", f"fidelity of {label}", [
                    "fidelity", "--tasks", str(pool), "--tests", tests, *workers, *cache,
                ])["fidelity"]  # fmt: skip
            mutation = self.step(f"mutation-{i}", f"mutation score of {label}", [
                "mutation-score", "--tasks", str(tasks), "--tests", tests, *workers, *cache,
            ])  # fmt: skip
            self.result.rows.append(
                SourceRow(
                    label=label,
                    tests=tests,
                    tests_per_task=float(bon.get("mean_tests_per_task", 0.0)),
                    bon={m: float(a) for m, a in bon["per_model"].items()},
                    bon_curve={m: {int(k): float(v) for k, v in c.items()} for m, c in bon["curve"].items()},
                    fidelity=fidelity,
                    mutation_score=mutation.get("mutation_score"),
                )
            )
        self.result.seconds = time.perf_counter() - start
        self.result.plot = plot_curves(out / "bon.png", self.result.rows)
        self.result.report = write_report(out / "report.md", self.result)
        return self.result


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
                "run the demo from a checkout of the atest repository, or set ATEST_CONFIG_DIR to its configs/",
            )
    return paths


def _train_overrides(cfg: DemoConfig, model: Path) -> list[str]:
    sets = [f"test_model.path={model}", f"grpo.max_completion_length={cfg.max_new_tokens}"]
    if cfg.mode == "utrl":
        sets += [f"code_model.path={cfg.model}", "utrl.iterations=1", f"utrl.test_steps={cfg.train_steps}"]
    else:
        sets += [f"atgen.max_steps={cfg.train_steps}"]
    return [arg for pair in sets for arg in ("--set", pair)]


def trained_model(summary: dict[str, Any]) -> str:
    models = summary.get("models") or {}
    path = models.get("test_generator")
    if not path:
        raise ExternalError("the training run reported no test-generator model", "see results/train.json")
    return str(path)


def _powers(n: int) -> list[int]:
    values = [1]
    while values[-1] * 2 <= n:
        values.append(values[-1] * 2)
    if values[-1] != n:
        values.append(n)
    return values


def _quote(arg: str) -> str:
    return arg if arg and all(c.isalnum() or c in "-_./=,:" for c in arg) else json.dumps(arg)


def plot_curves(path: Path, rows: list[SourceRow]) -> Path:
    """Best-of-N accuracy against N: one panel per candidate pool, one line per test source."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pools = sorted({m for r in rows for m in r.bon_curve})
    fig, axes = plt.subplots(1, max(1, len(pools)), figsize=(5 * max(1, len(pools)), 4), squeeze=False)
    for ax, pool in zip(axes[0], pools, strict=False):
        for row in rows:
            curve = row.bon_curve.get(pool)
            if curve:
                ns = sorted(curve)
                style = "--" if row.tests == GOLD else "-"
                ax.plot(ns, [curve[n] for n in ns], style, marker="o", label=row.label)
        ax.set_title(f"candidates: {pool}")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("N (candidates)")
        ax.set_ylabel("best-of-N accuracy")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)
    return path


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def write_report(path: Path, result: DemoResult) -> Path:
    cfg = result.config
    pools = sorted({m for r in result.rows for m in r.bon})
    lines = [
        "# atest demo report",
        "",
        f"Evaluation: the first {cfg.n_tasks} bundled tasks, with candidate pools {', '.join(pools)} "
        f"(mutants of the gold solution, and {cfg.solutions} samples of {cfg.model}). Test generator: "
        f"{cfg.model}, prompted with the `{cfg.prompt}` template (one test per buggy code), first as is, then "
        f"after a format warm-up ({cfg.warmup_steps} supervised steps), then after {cfg.train_steps} GRPO steps "
        f"of `atest train --mode {cfg.mode}`. The warm-up uses four easy tasks "
        "(`configs/cpu-smoke/warmup-tasks.jsonl`) and GRPO four others (the first four of "
        "`configs/cpu-smoke/tasks.jsonl`), all disjoint from the evaluation tasks. "
        f"Total time {result.seconds / 60:.1f} min on CPU.",
        "",
        f"**Read this as a smoke test, not a result.** A small model ({cfg.model}) trained for minutes on",
        "eight toy problems writes few valid tests, and differences between its rows are mostly noise.",
        "The pipeline is the real one (sandbox, rewards, TRL SFT and GRPO, evaluation); the papers'",
        "numbers need 4B-7B models, thousands of tasks and GPUs (see the README).",
        "",
        "| tests | tests/task | "
        + " | ".join(f"best-of-N ({p})" for p in pools)
        + " | fidelity | mutation score |",
        "| --- | ---: | " + " | ".join("---:" for _ in pools) + " | ---: | ---: |",
    ]
    for row in result.rows:
        bon = " | ".join(_fmt(row.bon.get(p)) for p in pools)
        fidelity = "1 (reference)" if row.tests == GOLD else _fmt(row.fidelity)
        lines.append(
            f"| {row.label} | {row.tests_per_task:.1f} | {bon} | {fidelity} | {_fmt(row.mutation_score)} |"
        )
    lines += [
        "",
        "Best-of-N: the fraction of tasks where the candidate ranked first by the tests passes every gold",
        "test (ties: expected accuracy). Fidelity: Spearman correlation between candidates' scores on these",
        "tests and on the gold tests. Mutation score: the fraction of non-equivalent mutants of the gold",
        "solution the tests kill.",
        "",
        "![best-of-N against N](bon.png)",
        "",
        "## Steps and the commands that reproduce them",
        "",
        "| # | step | time | command |",
        "| ---: | --- | ---: | --- |",
    ]
    for i, step in enumerate(result.steps, 1):
        took = "resumed" if step.resumed else f"{step.seconds:.0f} s"
        lines.append(f"| {i} | {step.label} | {took} | `{step.command}` |")
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path
