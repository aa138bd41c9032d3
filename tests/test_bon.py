"""Best-of-N: every number computed by hand, tie rules, the oracle property, the CLI end to end."""

from __future__ import annotations

import json

import evalcases
import pytest
from atest_cli import run_cli
from hypothesis import given
from hypothesis import strategies as st

from atest.core.metrics.bon import CandidateScores, bon_report, bon_value, oracle_value, select_value

# Task A: 3 tests; candidates 1 and 2 tie on top, only 1 is correct.
A = CandidateScores("A", "m", 3, passed=(2, 3, 3, 1), correct=(False, True, False, False))
# Task B: no parsed tests, so everyone ties; only the first is correct.
B = CandidateScores("B", "m", 0, passed=(0, 0, 0), correct=(True, False, False))
# Task C: the tests prefer a wrong candidate.
C = CandidateScores("C", "m", 2, passed=(1, 0), correct=(False, True))


@pytest.mark.parametrize(
    ("cell", "expected", "first", "last"),
    [(A, 0.5, 1.0, 0.0), (B, 1 / 3, 1.0, 0.0), (C, 0.0, 0.0, 0.0)],
)
def test_tie_rules_by_hand(cell, expected, first, last):
    n = len(cell.passed)
    assert bon_value(cell, n, "expected") == expected
    assert bon_value(cell, n, "first") == first
    assert bon_value(cell, n, "last") == last


def test_report_by_hand():
    r = bon_report([A, B, C], ns=[1, 2], rule="expected")
    assert r.n_tasks == 3
    assert r.accuracy == pytest.approx((0.5 + 1 / 3 + 0.0) / 3)
    assert r.per_model == {"m": pytest.approx((0.5 + 1 / 3) / 3)}
    assert r.oracle == 1.0
    # n=1: A picks cand 0 (wrong), B cand 0 (right), C cand 0 (wrong).
    # n=2: A picks cand 1 (right), B ties {0,1} -> 1/2, C picks cand 0 (wrong).
    assert r.curve["m"] == {1: pytest.approx(1 / 3), 2: pytest.approx(0.5)}
    assert r.oracle_curve["m"] == {1: pytest.approx(1 / 3), 2: 1.0}
    assert r.per_task == {"A": 0.5, "B": pytest.approx(1 / 3), "C": 0.0}


def test_report_two_models_averages_per_task():
    other = CandidateScores("A", "z", 1, passed=(1, 0), correct=(True, False))
    other_b = CandidateScores("B", "z", 1, passed=(0, 1), correct=(True, False))
    r = bon_report([A, B, other, other_b], rule="first")
    # first rule: A/m -> 1, B/m -> 1, A/z -> 1, B/z -> 0.
    assert r.per_model == {"m": 1.0, "z": 0.5}
    assert r.per_task == {"A": 1.0, "B": 0.5}
    assert r.accuracy == 0.75


def test_report_rejects_a_task_missing_a_model():
    other = CandidateScores("A", "z", 1, passed=(1,), correct=(True,))
    with pytest.raises(ValueError, match="lacks candidates"):
        bon_report([A, B, other])


def test_n_larger_than_candidates_is_an_error():
    with pytest.raises(ValueError, match="n=5 but 4 candidates"):
        bon_value(A, 5, "expected")


def test_bootstrap_interval_is_seeded_and_brackets_the_mean():
    cells = [CandidateScores(f"t{i}", "m", 1, passed=(1, 0), correct=(i % 3 == 0, True)) for i in range(30)]
    r1 = bon_report(cells, seed=7)
    r2 = bon_report(cells, seed=7)
    assert r1.ci95 == r2.ci95
    assert r1.ci95[0] <= r1.accuracy <= r1.ci95[1]
    assert r1.ci95[0] < r1.ci95[1]


@st.composite
def gold_scored_cells(draw):
    """Candidates scored by the gold tests themselves: correct means all gold tests pass."""
    n_gold = draw(st.integers(1, 6))
    passed = tuple(draw(st.lists(st.integers(0, n_gold), min_size=1, max_size=12)))
    return CandidateScores("t", "m", n_gold, passed, tuple(p == n_gold for p in passed))


@given(gold_scored_cells(), st.sampled_from(["expected", "first", "last"]), st.data())
def test_ground_truth_tests_give_the_pass_at_n_oracle(cell, rule, data):
    n = data.draw(st.integers(1, len(cell.passed)))
    assert bon_value(cell, n, rule) == oracle_value(cell, n)


@given(st.lists(st.tuples(st.integers(0, 3), st.booleans()), min_size=1, max_size=10), st.randoms())
def test_expected_rule_does_not_depend_on_candidate_order(pairs, rnd):
    shuffled = list(pairs)
    rnd.shuffle(shuffled)
    before = select_value([p for p, _ in pairs], [c for _, c in pairs], "expected")
    after = select_value([p for p, _ in shuffled], [c for _, c in shuffled], "expected")
    assert before == pytest.approx(after)


# ---- end to end through the sandbox, on the hand-built fixture in evalcases.py ----


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return evalcases.write_case(tmp_path_factory.mktemp("bon"))


def bon_json(case, *extra: str) -> dict:
    tasks, tests = case
    proc = run_cli(
        "bon", "--tasks", str(tasks), "--tests", str(tests), "--cpu-seconds", evalcases.CPU, "--json", *extra
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_cli_expected_rule_by_hand(case, tmp_path):
    out = tmp_path / "details.jsonl"
    s = bon_json(case, "--out", str(out))
    # A: m1 ties {c0,c1,c3} with one correct -> 1/3; m2 picks c1 (correct) -> 1.
    # B: no tests, all tie: m1 2 of 4 correct -> 1/2; m2 1 of 2 -> 1/2.
    assert s["accuracy"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert s["per_model"] == {"m1": pytest.approx((1 / 3 + 1 / 2) / 2), "m2": pytest.approx(3 / 4)}
    assert s["oracle_accuracy"] == 1.0
    assert (s["n_tasks"], s["n_duplicate_tests"], s["n_tasks_without_tests"]) == (2, 1, 1)
    assert any("candidate counts differ" in w for w in s["warnings"])
    lo, hi = s["ci95"]
    assert lo <= s["accuracy"] <= hi
    rows = {(r["task_id"], r["model"]): r for r in map(json.loads, out.read_text().splitlines())}
    assert rows[("A", "m1")]["passed"] == [2, 2, 0, 2]
    assert rows[("A", "m1")]["gold_passed"] == [3, 2, 0, 2]
    assert rows[("A", "m1")]["tied_best"] == [0, 1, 3]
    assert rows[("B", "m2")]["gold_passed"] == [2, 0]  # the infinite loop fails on time


@pytest.mark.parametrize(("tie", "accuracy"), [("first", 1.0), ("last", 0.5)])
def test_cli_paper_tie_rules(case, tie, accuracy):
    # first: A m1 c0, m2 c1, B m1 c0, m2 c0 -> all correct. last: A m1 c3 wrong, B m2 c1 wrong.
    assert bon_json(case, "--tie", tie)["accuracy"] == accuracy


def test_cli_drop_invalid_and_n_and_curve(case):
    s = bon_json(case, "--drop-invalid")
    # T2 dropped: A m1 counts (2,2,0,1), tied {c0,c1} -> 1/2.
    assert s["n_invalid_dropped"] == 1
    assert s["accuracy"] == pytest.approx(((1 / 2 + 1) / 2 + 1 / 2) / 2)
    s = bon_json(case, "--n", "2", "--ns", "1,2")
    # first two candidates: A m1 (2,2) -> 1/2, m2 -> 1; B m1 -> 1/2, m2 -> 1/2.
    assert s["accuracy"] == pytest.approx(((1 / 2 + 1) / 2 + 1 / 2) / 2)
    assert s["curve"] == {"m1": {"1": 1.0, "2": 0.5}, "m2": {"1": 0.5, "2": 0.75}}
    assert s["oracle_curve"] == {"m1": {"1": 1.0, "2": 1.0}, "m2": {"1": 0.5, "2": 1.0}}


def test_cli_ground_truth_is_the_oracle_and_plot(case, tmp_path):
    tasks, _ = case
    png = tmp_path / "bon.png"
    proc = run_cli(
        "bon", "--tasks", str(tasks), "--tests", "ground_truth", "--cpu-seconds", evalcases.CPU, "--json",
        "--plot", str(png),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    assert s["accuracy"] == s["oracle_accuracy"] == 1.0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(s["curve"]) == {"m1", "m2"} and set(s["curve"]["m2"]) == {"1", "2"}


def test_results_identical_across_runs_and_worker_counts(case, tmp_path):
    runs = {
        name: bon_json(case, "--workers", workers, "--out", str(tmp_path / f"{name}.jsonl"))
        for name, workers in (("one", "1"), ("two", "2"), ("again", "2"))
    }
    # Once in CI (beside a study, load ~5 on 2 cores) the second run's oracle lost a correct
    # candidate of task A; unreproduced since. The per-candidate rows name the verdict that moved.
    rows = {name: (tmp_path / f"{name}.jsonl").read_text().splitlines() for name in runs}
    assert rows["one"] == rows["two"] == rows["again"], rows
    assert runs["one"] == runs["two"] == runs["again"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--n", "3"], "N=3 but task"),
        (["--ns", "1,4"], "N=4 but task"),
        (["--solution-model", "nope"], "no task has candidates for solution model 'nope'"),
        (["--tie", "random"], "--tie 'random'"),
    ],
)
def test_cli_bad_options(case, extra, message):
    tasks, tests = case
    proc = run_cli("bon", "--tasks", str(tasks), "--tests", str(tests), *extra)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert proc.stdout == ""


def test_cli_bad_tests_files(case, tmp_path):
    tasks, _ = case
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    proc = run_cli("bon", "--tasks", str(tasks), "--tests", str(empty))
    assert proc.returncode == 2 and "empty tests file" in proc.stderr
    unknown = evalcases.write_jsonl(
        tmp_path / "unknown.jsonl", [*evalcases.GENERATED, {"task_id": "Z", "tests": []}]
    )
    proc = run_cli("bon", "--tasks", str(tasks), "--tests", str(unknown))
    assert proc.returncode == 2 and "task_id 'Z' is not in the tasks file" in proc.stderr


def test_tasks_missing_from_the_tests_file_are_counted(case, tmp_path):
    tasks, _ = case
    only_a = evalcases.write_jsonl(tmp_path / "a.jsonl", evalcases.GENERATED[:1])
    s = bon_json((tasks, only_a))
    assert s["n_tasks"] == 1
    assert s["skipped"] == {"no_tests_row": 1}
    assert s["accuracy"] == pytest.approx((1 / 3 + 1) / 2)


def test_ground_truth_equals_the_oracle_for_every_n_and_rule(case):
    from atest.core.metrics.evaluate import evaluate_bon
    from atest.core.metrics.inputs import load_eval_inputs
    from atest.core.sandbox import Limits, get_executor

    tasks, _ = case
    inputs = load_eval_inputs(tasks, "ground_truth", None, need_gold_tests=True)
    limits = Limits(cpu_seconds=float(evalcases.CPU))
    with get_executor(workers=2) as executor:
        for rule in ("expected", "first", "last"):
            for n in (1, 2):
                result = evaluate_bon(
                    inputs, executor, n=n, ns=[], rule=rule, drop_invalid=False, limits=limits, seed=0
                ).result
                assert result.per_model == result.per_model_oracle
                assert result.accuracy == result.oracle


def test_cli_skip_small_pools_scores_every_n_on_the_same_tasks(tmp_path):
    """A task whose pool is smaller than the largest N is refused, or with --skip-small-pools left
    out of every N (counted), so that the curve compares the same tasks at each N."""
    task_b = {**evalcases.TASK_B, "candidates": {"m1": evalcases.TASK_B["candidates"]["m1"][:3]}}
    tasks = evalcases.write_jsonl(tmp_path / "tasks.jsonl", [evalcases.TASK_A, task_b])
    tests = evalcases.write_jsonl(tmp_path / "tests.jsonl", evalcases.GENERATED)
    args = ["bon", "--tasks", str(tasks), "--tests", str(tests), "--solution-model", "m1", "--ns", "1,4"]
    refused = run_cli(*args)
    assert refused.returncode == 2 and "--skip-small-pools" in refused.stderr
    proc = run_cli(*args, "--skip-small-pools", "--cpu-seconds", evalcases.CPU, "--json")
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    assert s["n_tasks"] == 1 and s["skipped"]["small_pool"] == 1
    assert set(s["curve"]["m1"]) == {"1", "4"}
    assert s["accuracy"] == pytest.approx(1 / 3)  # task A alone, as in the by-hand case
