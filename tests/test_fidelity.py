"""Fidelity: Spearman by hand, the constant-vector convention, the CLI end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import evalcases
import pytest
from atest_cli import run_cli

from atest.core.metrics.fidelity import TaskScoreVectors, fidelity_report, task_spearman


def test_spearman_by_hand_with_average_ranks():
    # generated: ranks (1, 2.5, 2.5, 4); gold: ranks (1, 2, 3, 4).
    # d = (0, 0.5, -0.5, 0); with ties use Pearson on ranks:
    # mean rank 2.5; x-dev (-1.5, 0, 0, 1.5), y-dev (-1.5, -0.5, 0.5, 1.5)
    # cov = 2.25 + 0 + 0 + 2.25 = 4.5; var_x = 4.5; var_y = 5  -> rho = 4.5 / sqrt(22.5)
    assert task_spearman([0, 2, 2, 5], [1, 2, 3, 4]) == pytest.approx(4.5 / 22.5**0.5)
    assert task_spearman([3, 2, 1], [1, 2, 3]) == pytest.approx(-1.0)


@pytest.mark.parametrize(
    ("gen", "gold"),
    [([1, 1, 1], [0, 1, 2]), ([0, 1, 2], [4, 4, 4]), ([1], [1]), ([], [])],
)
def test_constant_or_tiny_vectors_are_undefined(gen, gold):
    assert task_spearman(gen, gold) is None


def test_report_counts_constant_tasks_as_zero_and_excludes_them_separately():
    vectors = [
        TaskScoreVectors("perfect", generated=(0, 1, 2), gold=(0, 5, 9)),  # rho 1
        TaskScoreVectors("inverse", generated=(2, 1, 0), gold=(0, 5, 9)),  # rho -1
        TaskScoreVectors("half", generated=(0, 2, 2, 5), gold=(1, 2, 3, 4)),  # rho 4.5/sqrt(22.5)
        TaskScoreVectors("no-tests", generated=(0, 0, 0), gold=(0, 5, 9)),  # constant
    ]
    r = fidelity_report(vectors)
    half = 4.5 / 22.5**0.5
    assert r.n_tasks == 4
    assert r.n_constant == 1
    assert r.fidelity == pytest.approx((1 - 1 + half + 0) / 4)
    assert r.fidelity_excluding_constant == pytest.approx((1 - 1 + half) / 3)
    assert r.per_task["no-tests"] is None
    assert r.ci95[0] <= r.fidelity <= r.ci95[1]


def test_all_constant_has_no_excluding_figure():
    r = fidelity_report([TaskScoreVectors("a", (1, 1), (0, 1))])
    assert (r.fidelity, r.n_constant, r.fidelity_excluding_constant, r.ci95_excluding_constant) == (
        0.0,
        1,
        None,
        None,
    )


# ---- end to end through the sandbox, on the hand-built fixture in evalcases.py ----


def test_cli_fidelity_by_hand(tmp_path):
    tasks, tests = evalcases.write_case(tmp_path)
    out = tmp_path / "per_task.jsonl"
    proc = run_cli(
        "fidelity", "--tasks", str(tasks), "--tests", str(tests), "--cpu-seconds", evalcases.CPU, "--json",
        "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    # Task A, m1 then m2: generated (2,2,0,2,1,2), gold (3,2,0,2,0,3).
    # Average ranks: generated (4.5,4.5,1,4.5,2,4.5), gold (5.5,3.5,1.5,3.5,1.5,5.5); both mean 3.5.
    # Deviations (1,1,-2.5,1,-1.5,1) and (2,0,-2,0,-2,2): cov 12, var 12.5 and 16 -> rho 12/sqrt(200).
    # Task B: no generated tests, so its generated vector is constant -> counted as 0.
    rho_a = 12 / 200**0.5
    assert s["n_tasks"] == 2
    assert s["n_constant"] == 1
    assert s["fidelity"] == pytest.approx(rho_a / 2)
    assert s["fidelity_excluding_constant"] == pytest.approx(rho_a)
    assert s["ci95"][0] <= s["fidelity"] <= s["ci95"][1]
    per_task = {r["task_id"]: r["spearman"] for r in map(json.loads, out.read_text().splitlines())}
    assert per_task == {"A": pytest.approx(rho_a), "B": None}


def test_cli_fidelity_without_gold_tests_is_an_error(tmp_path):
    tasks = evalcases.write_jsonl(
        tmp_path / "t.jsonl", [{**evalcases.TASK_A, "gold_tests": []}, {**evalcases.TASK_B, "gold_tests": []}]
    )
    tests = evalcases.write_jsonl(tmp_path / "g.jsonl", evalcases.GENERATED)
    proc = run_cli("fidelity", "--tasks", str(tasks), "--tests", str(tests))
    assert proc.returncode == 2
    assert "no task left to evaluate" in proc.stderr and "without gold tests" in proc.stderr


def test_commands_that_never_rank_do_not_import_scipy_stats():
    """scipy.stats costs a command ~1.4 s of imports (attack-eval took 2.1 s, 0.7 s without it):
    it is imported where Spearman's rho is computed, not where the metrics modules load."""
    code = (
        "import sys, atest.core.metrics.evaluate, atest.commands.attack_eval, atest.commands.bon\n"
        "print('scipy.stats' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "False", proc.stderr[-2000:]
