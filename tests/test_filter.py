"""`atest filter`: the pick per task, tie-breaking, the --min-pass gate and its exit code."""

from __future__ import annotations

import json
import subprocess
import sys

import evalcases
import pytest

from atest.core.metrics.scoring import CandidateCounts
from atest.core.selection import below_threshold, select_best
from atest.core.tasks import task_from_dict


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "atest", *args],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def test_select_best_breaks_ties_by_model_order_then_index():
    task = task_from_dict(evalcases.TASK_A)
    counts = [
        CandidateCounts("A", "m1", 3, 0, passed=[1, 2, 0, 2], gold_passed=[]),
        CandidateCounts("A", "m2", 3, 0, passed=[2, 1], gold_passed=[]),
    ]
    s = select_best(task, counts)
    assert (s.model, s.index, s.n_passed, s.n_tied, s.n_candidates) == ("m1", 1, 2, 3, 6)
    assert s.code == evalcases.TASK_A["candidates"]["m1"][1]
    assert s.score == pytest.approx(2 / 3)
    assert [x.task_id for x in below_threshold([s], 0.7)] == ["A"]
    assert below_threshold([s], 0.6) == []


@pytest.fixture
def no_gold(tmp_path):
    """The fixture's tasks without gold tests or gold solutions: the production setting."""
    rows = [{**t, "gold_tests": [], "gold_solutions": []} for t in (evalcases.TASK_A, evalcases.TASK_B)]
    tasks = evalcases.write_jsonl(tmp_path / "tasks.jsonl", rows)
    tests = evalcases.write_jsonl(tmp_path / "tests.jsonl", evalcases.GENERATED)
    return tasks, tests


def test_cli_filter_writes_the_pick_and_gates(no_gold, tmp_path):
    tasks, tests = no_gold
    out = tmp_path / "selected.jsonl"
    base = [
        "filter",
        "--tasks",
        str(tasks),
        "--tests",
        str(tests),
        "--out",
        str(out),
        "--cpu-seconds",
        evalcases.CPU,
    ]
    proc = run_cli(*base, "--min-pass", "0.5", "--json")
    # A: pool counts m1 (2,2,0,2), m2 (1,2) of 3 tests -> m1[0], 2/3. B: no tests -> all tie at 0.
    assert proc.returncode == 1, proc.stderr
    s = json.loads(proc.stdout)
    assert (s["n_tasks"], s["n_below_min_pass"], s["below_min_pass"]) == (2, 1, ["B"])
    rows = {r["task_id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert (rows["A"]["model"], rows["A"]["index"], rows["A"]["n_passed"], rows["A"]["n_tests"]) == (
        "m1",
        0,
        2,
        3,
    )
    assert rows["A"]["passed"] == {"m1": [2, 2, 0, 2], "m2": [1, 2]}
    assert rows["A"]["n_tied"] == 4
    assert (rows["B"]["model"], rows["B"]["index"], rows["B"]["score"], rows["B"]["n_tied"]) == (
        "m1",
        0,
        0.0,
        6,
    )
    assert rows["A"]["code"] == evalcases.TASK_A["candidates"]["m1"][0]

    proc = run_cli(*base, "--min-pass", "0.0")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""


def test_cli_filter_restricted_to_one_model(no_gold, tmp_path):
    tasks, tests = no_gold
    out = tmp_path / "selected.jsonl"
    proc = run_cli(
        "filter", "--tasks", str(tasks), "--tests", str(tests), "--out", str(out), "--solution-model", "m2",
        "--cpu-seconds", evalcases.CPU,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = {r["task_id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert (rows["A"]["model"], rows["A"]["index"]) == ("m2", 1)


def test_cli_filter_tasks_without_candidates_are_counted(tmp_path):
    rows = [{**evalcases.TASK_A, "candidates": {}}, evalcases.TASK_B]
    tasks = evalcases.write_jsonl(tmp_path / "tasks.jsonl", rows)
    tests = evalcases.write_jsonl(tmp_path / "tests.jsonl", evalcases.GENERATED)
    proc = run_cli(
        "filter", "--tasks", str(tasks), "--tests", str(tests), "--out", str(tmp_path / "o.jsonl"), "--json",
        "--cpu-seconds", evalcases.CPU,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    assert s["n_tasks"] == 1
    assert s["skipped"] == {"no_candidates": 1}
    assert "skipped 1 task(s), first 'A'" in proc.stderr
