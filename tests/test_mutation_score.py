"""Classification outcomes and `atest mutation-score` on handmade tasks."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from atest.cli import app
from atest.core.mutation.classify import ClassifyOptions, Outcome, Probe, classify_tasks
from atest.core.sandbox import Limits, get_executor
from atest.core.tasks import Task, write_tasks

GOLD = "class Solution:\n    def f(self, x: int) -> int:\n        return x * 2\n"
TESTS = [{"input": [i], "output": 2 * i} for i in range(1, 21)]
LIMITS = Limits(cpu_seconds=0.3)


@pytest.fixture(scope="module")
def executor():
    with get_executor(workers=2) as ex:
        yield ex


TASK = Task(
    task_id="double",
    question="Return twice x.",
    kind="functional",
    fn_name="f",
    gold_solutions=[
        "class Solution:\n    def f(self, x: int) -> int:\n        y = x * 2\n        return y\n"
    ],
    gold_tests=[*TESTS[:5], {"input": [3], "output": 7}],  # the last test is wrong: dropped as invalid
)


def test_classification_drops_invalid_tests_and_counts_every_outcome(executor):
    (tm,) = classify_tasks([TASK], executor, ClassifyOptions(k=10, seed=0))
    assert tm.skipped is None and tm.n_invalid_gold_tests == 1 and len(tm.valid_tests) == 5
    assert tm.limits is not None and tm.limits.cpu_seconds == 0.25  # the floor: the gold is fast
    assert tm.mutants and all(m.detected or m.probe is not None for m in tm.mutants)
    by_description = {m.mutant.description: m for m in tm.mutants}
    removed = by_description.get("removed `y = x * 2`")
    if removed is not None:
        assert removed.outcome is Outcome.CRASHED  # y is unbound
    for m in tm.mutants:
        if m.outcome is Outcome.SURVIVED:
            assert m.probe in (Probe.DISTINGUISHED, Probe.LIKELY_EQUIVALENT)
    assert sum(m.outcome is Outcome.KILLED for m in tm.mutants) >= 3


def _score(tmp_path, tests: str) -> dict:
    args = ["--tasks", str(tmp_path / "t.jsonl"), "--tests", tests, "--k", "10", "--workers", "2", "--json"]
    result = CliRunner().invoke(app, ["mutation-score", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_mutation_score_cli_weak_tests_score_lower_than_gold(tmp_path):
    write_tasks(tmp_path / "t.jsonl", [TASK])
    weak = tmp_path / "weak.jsonl"
    # f(0) = 0 is also what `return 0`, `x // 2`, `x * 1` and `x * 3` give: only 2 of 6 mutants die
    weak.write_text(json.dumps({"task_id": "double", "tests": [{"input": [0], "output": 0}]}) + "\n")
    full = _score(tmp_path, "ground_truth")
    low = _score(tmp_path, str(weak))
    for report in (full, low):
        assert {"mutation_score", "n_tasks", "n_mutants", "ci95", "per_task", "gold"} <= set(report)
        assert report["n_tasks"] == 1 and report["n_mutants"] == full["n_mutants"] >= 5  # all the program has
    assert full["n_non_equivalent"] == low["n_non_equivalent"]
    assert 0.0 <= low["mutation_score"] < full["mutation_score"] == 1.0
    assert low["per_task"][0]["n_killed"] == low["n_killed"] < full["n_killed"]


def test_mutation_score_cli_rejects_a_missing_tests_file(tmp_path):
    write_tasks(tmp_path / "t.jsonl", [TASK])
    result = CliRunner().invoke(
        app,
        [
            "mutation-score",
            "--tasks",
            str(tmp_path / "t.jsonl"),
            "--tests",
            str(tmp_path / "no.jsonl"),
            "--json",
        ],
    )
    assert result.exit_code == 2 and json.loads(result.stdout)["error"]["kind"] == "bad_input"
    assert len(result.stderr.strip().splitlines()) == 1 and "no such tests file" in result.stderr
