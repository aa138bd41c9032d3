"""The mutation engine on the real LeetCode and APPS data in ../shared/data.

Generation is checked on every task; classification (which runs programs) on a fixed
spread of LeetCode tasks plus all APPS tasks, with tests capped, to stay fast. The full
run over all 228 LeetCode tasks is `bench/mutants.py`.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from shared_data import APPS, LEETCODE, needs_data
from typer.testing import CliRunner

from atest.cli import app
from atest.core.loaders import load_source
from atest.core.mutation import generate_mutants
from atest.core.mutation.classify import ClassifyOptions, Outcome, classify_tasks
from atest.core.mutation.pools import CANDIDATES_KEY, public_examples
from atest.core.sandbox import get_executor
from atest.core.tasks import Task, read_tasks

pytestmark = needs_data


@pytest.fixture(scope="module")
def tasks() -> dict[str, list[Task]]:
    leetcode, _ = load_source("leetcode", str(LEETCODE), None, None)
    apps, _ = load_source("apps", str(APPS), None, None)
    return {"leetcode": leetcode, "apps": apps}


def _mutants(task: Task, k: int = 20, seed: int = 0):
    return generate_mutants(task.gold_solutions[0], k, seed, kind=task.kind, fn_name=task.fn_name)


@pytest.mark.slow
def test_every_task_yields_mutants_the_same_for_the_same_seed(tasks):
    assert len(tasks["leetcode"]) >= 220 and len(tasks["apps"]) == 5
    for source, items in tasks.items():
        counts = [len(_mutants(task)) for task in items]
        assert min(counts) >= 1, source
        assert sum(c == 20 for c in counts) >= 0.8 * len(counts), source
    spread = tasks["leetcode"][::10] + tasks["apps"]
    assert all(_mutants(t, 8, 0) == _mutants(t, 8, 0) for t in spread)
    assert sum(_mutants(t, 8, 0) != _mutants(t, 8, 1) for t in spread) >= 0.9 * len(spread)


def test_statements_show_public_examples(tasks):
    with_examples = [t for t in tasks["leetcode"] if public_examples(t)]
    assert len(with_examples) >= 0.95 * len(tasks["leetcode"])
    assert all(public_examples(t) for t in tasks["apps"])


def _sample(tasks: dict[str, list[Task]]) -> list[Task]:
    """Every 23rd LeetCode task and all APPS tasks, at most 30 gold tests each."""
    chosen = tasks["leetcode"][::23] + tasks["apps"]
    return [replace(t, gold_tests=t.gold_tests[:30]) for t in chosen]


@pytest.mark.slow
def test_gold_tests_kill_most_mutants_and_classification_is_reproducible(tasks):
    sample = _sample(tasks)
    opts = ClassifyOptions(k=8, seed=0)
    runs = []
    for _ in range(2):  # a fresh executor each time: nothing comes from a cache
        with get_executor(workers=2) as executor:
            runs.append(classify_tasks(sample, executor, opts))
    first, second = runs
    assert [tm.skipped for tm in first] == [None] * len(sample)
    for tm in first:  # a task with one or two tests may let everything through; not these
        if len(tm.valid_tests) >= 5:
            assert sum(m.detected for m in tm.mutants) >= 1, tm.task.task_id
    outcomes = [m.outcome for tm in first for m in tm.mutants]
    detected = sum(o is not Outcome.SURVIVED for o in outcomes)
    assert detected >= 0.8 * len(outcomes), (detected, len(outcomes))
    assert outcomes.count(Outcome.KILLED) > len(outcomes) / 2
    assert [[(m.mutant, m.outcome, m.first_failing_test) for m in tm.mutants] for tm in first] == [
        [(m.mutant, m.outcome, m.first_failing_test) for m in tm.mutants] for tm in second
    ]


def _cli(*args: str) -> dict:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.slow
def test_prepare_mutants_output_works_with_bon_fidelity_and_mutation_score(tmp_path):
    out, cache = tmp_path / "tasks.jsonl", tmp_path / "cache"
    summary = _cli(
        "prepare", "--source", "leetcode", "--path", str(LEETCODE), "--limit", "5", "--max-tests", "12",
        "--verify", "--mutants", "5", "--mutant-seed", "3", "--out", str(out), "--cache-dir", str(cache),
        "--workers", "2", "--json",
    )  # fmt: skip
    assert summary["n_out"] == 5 and summary["n_mutants"] == 5 * 5 * 3  # oversampled three times
    assert summary["mutants"]["n_buggy"] == 25 and summary["mutants"]["n_tasks_with_candidates"] == 5
    prepared, _ = read_tasks(out)
    for task in prepared:
        assert len(task.buggy_code) == 5 and len(task.candidates[CANDIDATES_KEY]) == 5
        assert task.gold_solutions[0] in task.candidates[CANDIDATES_KEY]
    generated = tmp_path / "generated.jsonl"  # a weak test set: each task's first two gold tests
    generated.write_text(
        "".join(json.dumps({"task_id": t.task_id, "tests": t.gold_tests[:2]}) + "\n" for t in prepared)
    )
    common = [
        "--tasks",
        str(out),
        "--cache-dir",
        str(cache),
        "--cpu-seconds",
        "0.5",
        "--workers",
        "2",
        "--json",
    ]

    oracle = _cli("bon", "--tests", "ground_truth", *common)
    assert oracle["per_model"] == {"mutants": 1.0}  # the gold solution and survivors pass every gold test
    bon = _cli("bon", "--tests", str(generated), *common)
    assert bon["n_tasks"] == 5 and 0.0 <= bon["per_model"]["mutants"] <= 1.0
    fidelity = _cli("fidelity", "--tests", str(generated), *common)
    assert fidelity["n_tasks"] == 5 and fidelity["solution_models"] == ["mutants"]
    assert -1.0 <= fidelity["fidelity"] <= 1.0
    weak = _cli("mutation-score", "--tests", str(generated), "--k", "5", *common)
    full = _cli("mutation-score", "--tests", "ground_truth", "--k", "5", *common)
    assert weak["n_tasks"] == full["n_tasks"] == 5 and weak["n_mutants"] == full["n_mutants"] == 25
    assert weak["n_non_equivalent"] == full["n_non_equivalent"]
    assert 0.0 <= weak["mutation_score"] <= full["mutation_score"] <= 1.0  # a subset kills no more
