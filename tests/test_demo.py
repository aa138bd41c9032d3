"""The demo: its reading of the steps' outputs, its report and figures, and the whole run end to end."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from atest.commands._demo_steps import DemoRunner, Resume
from atest.core.demo import (
    MUTANT_POOL,
    DemoConfig,
    DemoResult,
    PoolTruth,
    SourceRow,
    StepPoint,
    learning_curve,
    pool_truth,
)
from atest.core.demo_report import finding, plot_bon, plot_learning, write_report
from atest.core.errors import ExternalError
from atest.core.forkrun import cpu_only_machine

ROWS = ("(base)", "format warm-up", "GRPO", "statement examples", "gold tests")


def _detail(task: str, model: str, gold_passed: list[int], n_gold: int = 3) -> dict:
    return {"task_id": task, "model": model, "n_gold_tests": n_gold, "gold_passed": gold_passed}


def test_pool_truth_counts_correct_candidates_and_chance():
    details = [
        _detail("a", "mutants", [3, 0, 1, 3]),  # correct at 0 and 3
        _detail("b", "mutants", [0, 0, 2, 1]),  # none correct
        _detail("a", "other", [3, 3, 3, 3]),  # another pool: ignored
    ]
    truth = pool_truth("mutants", details, [1, 2, 4])
    assert (truth.n_tasks, truth.n_with_correct, truth.n_mixed) == (2, 1, 1)
    assert truth.separates
    assert truth.chance == {1: 0.5, 2: 0.25, 4: 0.25}


def test_pool_without_a_correct_and_a_wrong_candidate_does_not_separate():
    truth = pool_truth("m", [_detail("a", "m", [0, 1]), _detail("b", "m", [3, 3])], [1, 2])
    assert (truth.n_with_correct, truth.n_mixed, truth.separates) == (1, 0, False)


def test_learning_curve_reads_components_and_keeps_the_resumed_record(tmp_path):
    mean = {"rewards/atgen/mean": 0.0}
    rows = [
        {"phase": "t", "step": 1, "reward": -1.5, "atgen/format": -0.5, "atgen/io_accuracy": -0.5, **mean},
        {"phase": "t", "step": 2, "reward": 0.0, "atgen/format": 1.0, "atgen/io_accuracy": -0.5, **mean},
        {"phase": "t", "step": 2, "reward": 1.0, "atgen/format": 1.0, "atgen/io_accuracy": 0.0, **mean},
        {"phase": "c", "step": 1, "reward": 2.0, "utrl_code/format": 1.0, "rewards/utrl_code/mean": 2.0},
        {"phase": "t", "step": 3, "loss": 0.1},  # no reward: not a GRPO step record
    ]
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"phase": "atg')  # a torn last line
    points = learning_curve(path)
    assert [p.reward for p in points] == [-1.5, 1.0]
    assert points[1].components == {"format": 1.0, "io_accuracy": 0.0}


def _result(tmp_path: Path, *, model_pool_separates: bool, trained: float) -> DemoResult:
    cfg = DemoConfig(out=tmp_path, n_tasks=4, pool_size=4, solutions=2)
    mutants = PoolTruth(MUTANT_POOL, 4, 4, 4, {1: 0.25, 2: 0.25, 3: 0.25, 4: 0.25})
    model = PoolTruth(cfg.model, 4, 1, int(model_pool_separates), {1: 0.1, 2: 0.1})

    def row(role: str, label: str, acc: float, rates: dict[str, float] | None = None) -> SourceRow:
        curve = {MUTANT_POOL: {n: acc for n in range(1, 5)}}
        return SourceRow(role, label, "t", 1.0, {MUTANT_POOL: acc}, curve, 0.5, 0.5, rates)

    rows = [
        row("gold", "gold tests (upper bound)", 1.0),
        row("examples", "statement examples", 0.75),
        row("base", "m (base)", 0.25, {"parsed": 0.0, "io_accuracy": 0.0, "attack": 0.0}),
        row("warm-up", "m + format warm-up", 0.25, {"parsed": 1.0, "io_accuracy": 0.5, "attack": 0.25}),
        row("grpo", "m + warm-up + GRPO", trained, {"parsed": 1.0, "io_accuracy": 0.5, "attack": 0.5}),
    ]
    learning = [
        StepPoint(i, r, {"format": r / 3, "io_accuracy": 0.0, "attack": 0.0})
        for i, r in enumerate((-1, 0, 1), 1)
    ]
    return DemoResult(cfg, rows=rows, pools={MUTANT_POOL: mutants, cfg.model: model}, learning=learning)


def test_finding_states_the_warm_up_effect_and_compares_with_chance(tmp_path):
    text = finding(_result(tmp_path, model_pool_separates=False, trained=0.25))
    assert "is what makes" in text and "0% of its responses" in text and "100% after it" in text
    assert "in 0.25 of 4 tasks, within one task of a random pick (0.25)" in text
    better = finding(_result(tmp_path, model_pool_separates=False, trained=0.75))
    assert "better than a random pick" in better and "within" not in better


def test_report_leads_with_the_finding_and_explains_a_left_out_pool(tmp_path):
    result = _result(tmp_path, model_pool_separates=False, trained=0.25)
    result.plots = [tmp_path / "bon.png", tmp_path / "learning.png"]
    text = write_report(tmp_path / "report.md", result).read_text()
    lines = text.splitlines()
    assert lines[2].startswith("**Finding.** The format warm-up")
    assert "smoke test, not a result" in lines[4]
    assert "pool (2 samples per task) is left out of best-of-N: no task has both" in text
    assert "| chance (a random candidate) |  | 0.250 |" in text
    assert "![best-of-N against N](bon.png)" in text and "![learning curve](learning.png)" in text
    assert "reward -1.00 -> 1.00, format -0.33 -> 0.33" in text
    ranked = write_report(tmp_path / "r2.md", _result(tmp_path, model_pool_separates=True, trained=0.25))
    assert "is ranked too: 1 of its 4 tasks" in ranked.read_text()


def test_figures_are_written(tmp_path):
    result = _result(tmp_path, model_pool_separates=False, trained=0.25)
    assert plot_bon(tmp_path / "bon.png", result).stat().st_size > 10_000
    assert plot_learning(tmp_path / "learning.png", result).stat().st_size > 10_000
    empty = DemoResult(result.config)
    assert plot_bon(tmp_path / "none.png", empty) is None
    assert plot_learning(tmp_path / "none.png", empty) is None
    assert not (tmp_path / "none.png").exists()


SAMPLE = Path(__file__).resolve().parents[1] / "atest" / "data" / "sample.jsonl"


@pytest.mark.parametrize("fork", ["1", "0"])
def test_a_step_runs_once_continues_its_partial_output_and_names_a_failed_command(
    tmp_path, monkeypatch, fork
):
    """...the same whether each step is a fork of the preloaded server or a fresh interpreter
    (ATEST_FORK_STEPS=0; a machine with a GPU device never forks)."""
    monkeypatch.setenv("ATEST_FORK_STEPS", fork)
    runner = DemoRunner(DemoConfig(out=tmp_path))
    tests = tmp_path / "tests.jsonl"
    argv = ["example-tests", "--tasks", str(tmp_path / "missing.jsonl"), "--out", str(tests)]
    with pytest.raises(ExternalError, match=r"demo step 'examples' failed .*atest example-tests --tasks"):
        runner.step("examples", "examples", argv)
    tests.write_text("")  # what a killed run leaves: the continuing command runs instead
    # (rewriting that output, so it says --force: the write policy refuses to replace it otherwise)
    resume = [*argv[:2], str(SAMPLE), *argv[3:], "--force"]
    result = runner.step("examples", "examples", argv, Resume((tests,), resume))
    assert result["n_tasks"] == 50 and len(tests.read_text().splitlines()) == 50
    assert runner.result.steps[-1].command == "atest " + " ".join(argv)  # the report shows the plain command
    again = runner.step("examples", "examples", argv)
    assert again == result and runner.result.steps[-1].resumed
    runner.runner.close()
    assert runner.runner.forked == (2 if fork == "1" and cpu_only_machine() else 0)


@pytest.mark.slow
def test_reduced_demo_reports_every_row_with_numbers(tmp_path):
    """The whole pipeline with the tiny random model (what make demo runs with SmolLM2, in minutes)."""
    out = tmp_path / "demo"
    args = [
        sys.executable, "-m", "atest", "demo", "--out", str(out), "--model", "tiny-random", "--tasks", "2", "--mutants", "1",
        "--pool-size", "4", "--solutions", "2", "--warmup-steps", "2", "--steps", "1", "--max-new-tokens", "48",
        "--solution-tokens", "48", "--json",
    ]  # fmt: skip
    proc = subprocess.run(args, capture_output=True, text=True, timeout=3000)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert [any(key in row["tests"] for row in summary["rows"]) for key in ROWS] == [True] * len(ROWS)
    for row in summary["rows"]:
        assert sorted(row["bon_curve"][MUTANT_POOL]) == ["1", "2", "3", "4"]
    assert len(summary["learning"]) == 1 and {"format", "io_accuracy", "attack"} <= set(
        summary["learning"][0]
    )
    report = (out / "report.md").read_text()
    lines = report.splitlines()
    assert lines[2].startswith("**Finding.** ") and len(lines[2]) > 40
    assert "smoke test, not a result" in report
    start = next(i for i, line in enumerate(lines) if line.startswith("| tests |"))
    table = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        table.append(line)
    assert len(table) == len(ROWS) + 1  # and the chance row
    for key in ROWS:
        (row,) = [line for line in table if key in line]
        cells = [c.strip() for c in row.strip("|").split("|")[1:]]
        measured = cells if key in ROWS[:3] else cells[:4]  # ATGEN's rates are for the model's rows
        assert len(cells) == 7 and all(
            re.fullmatch(r"-?\d+(\.\d+)?( \(reference\))?", c) for c in measured
        ), row
    assert (out / "bon.png").stat().st_size > 10_000
    assert (out / "learning.png").stat().st_size > 10_000

    again = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0
    assert all(step["resumed"] for step in json.loads(again.stdout)["steps"])  # nothing ran twice
