"""`atest filter`: the pick per task, tie-breaking, the --min-pass gate and its exit code."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import evalcases
import pytest
from atest_cli import run_cli

from atest.core.metrics.scoring import CandidateCounts
from atest.core.selection import below_threshold, default_tests_path, select_best
from atest.core.tasks import task_from_dict


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

    proc = run_cli(*base, "--min-pass", "0.0", "--force")
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


# `filter --model`: the tests are generated first (through atest.core.gentests), then selected from.

ADD_TESTS = (  # for task A; "2 2"->5 is wrong on purpose, so no candidate passes everything
    "<reasoning>small</reasoning>\n```\nInput:\n1 2\n\nOutput:\n3\n```\n"
    "<reasoning>zeros</reasoning>\n```\nInput:\n0 0\n\nOutput:\n0\n```\n"
    "<reasoning>equal</reasoning>\n```\nInput:\n2 2\n\nOutput:\n5\n```\n"
)
DOUBLE_TESTS = (  # for task B
    "<reasoning>odd</reasoning>\n```\nInput:\n3\n\nOutput:\n6\n```\n"
    "<reasoning>zero</reasoning>\n```\nInput:\n0\n\nOutput:\n0\n```\n"
)


class AnswersByQuestion:
    """Stands in for an LLM behind the real HTTP server: each prompt gets the canned response of
    the task whose question it quotes, so the generated tests (and so the picks) are known."""

    def __init__(self, answers: dict[str, str]):
        self.answers = answers

    def generate(self, prompts, params):
        from atest.core.generation import Completion

        texts = [next(a for q, a in self.answers.items() if q in m[-1]["content"]) for m in prompts]
        return [[Completion(t, 20, "stop", None) for _ in range(params.n)] for t in texts]


@pytest.fixture
def served_model():
    from chat_server import ChatServer

    answers = {evalcases.TASK_A["question"]: ADD_TESTS, evalcases.TASK_B["question"]: DOUBLE_TESTS}
    server = ChatServer(AnswersByQuestion(answers), model_name="scripted").start()
    yield server
    server.stop()


def run_with_key(*args: str) -> subprocess.CompletedProcess:
    return run_cli(*args, env={**os.environ, "OPENAI_API_KEY": "unused"})


def rows_by_task(path: Path) -> dict[str, dict]:
    return {r["task_id"]: r for r in map(json.loads, path.read_text().splitlines())}


def test_cli_filter_model_generates_tests_then_selects_and_resumes(no_gold, tmp_path, served_model):
    tasks, _ = no_gold
    out = tmp_path / "selected.jsonl"
    args = [
        "filter", "--tasks", str(tasks), "--out", str(out), "--model", "scripted", "--backend", "openai",
        "--base-url", served_model.base_url, "--cpu-seconds", evalcases.CPU,
    ]  # fmt: skip
    proc = run_with_key(*args, "--min-pass", "0.9", "--json")
    # A: tests "1 2"->3, "0 0"->0, "2 2"->5. m1 passes (2, 2, 0, 2) (c3 adds 1 when a == b), m2 (1, 2):
    #    best 2 of 3, four-way tie -> m1[0]. B: "3"->6, "0"->0. m1 (2, 0, 1, 2), m2 (2, 0) -> m1[0], 2 of 2.
    assert proc.returncode == 1, proc.stderr
    s = json.loads(proc.stdout)
    assert (s["n_tasks"], s["below_min_pass"], s["n_tasks_without_tests"]) == (2, ["A"], 0)
    tests_file = tmp_path / "selected.tests.jsonl"
    assert s["tests"] == str(tests_file)
    gen = s["generation"]
    assert (gen["n_tests"], gen["n_written"], gen["n_skipped"], gen["n_parse_failures"]) == (5, 2, 0, 0)
    rows = rows_by_task(out)
    assert (rows["A"]["model"], rows["A"]["index"], rows["A"]["n_passed"], rows["A"]["n_tests"]) == (
        "m1",
        0,
        2,
        3,
    )
    assert rows["A"]["passed"] == {"m1": [2, 2, 0, 2], "m2": [1, 2]} and rows["A"]["n_tied"] == 4
    assert rows["B"]["passed"] == {"m1": [2, 0, 1, 2], "m2": [2, 0]}
    assert (rows["B"]["model"], rows["B"]["index"], rows["B"]["score"], rows["B"]["n_tied"]) == (
        "m1",
        0,
        1.0,
        3,
    )
    generated = rows_by_task(tests_file)
    assert generated["B"]["tests"] == [{"input": "3\n", "output": "6\n"}, {"input": "0\n", "output": "0\n"}]
    assert generated["A"]["model"] == "scripted" and generated["A"]["template_id"] == "utrl-test@1"
    served, kept = served_model.served, tests_file.read_text()

    again = run_with_key(
        *args, "--min-pass", "0.5", "--json", "--force"
    )  # everything generated: nothing is asked
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["generation"]["n_skipped"] == 2
    assert served_model.served == served and tests_file.read_text() == kept
    assert rows_by_task(out) == rows

    other = run_with_key(*args, "--temperature", "1", "--force")  # other settings are refused, not mixed in
    assert other.returncode == 2 and "--tests-out" in other.stderr and other.stdout == ""
    assert tests_file.read_text() == kept


def test_cli_filter_model_with_the_tiny_hf_model(no_gold, tmp_path, tiny_model_dir):
    tasks, _ = no_gold
    out, tests_out = tmp_path / "selected.jsonl", tmp_path / "gen" / "tests.jsonl"
    tests_out.parent.mkdir()
    proc = run_cli(
        "filter", "--tasks", str(tasks), "--out", str(out), "--model", str(tiny_model_dir),
        "--max-new-tokens", "8", "--tests-out", str(tests_out), "--min-pass", "0.5", "--json",
        "--cpu-seconds", evalcases.CPU,
    )  # fmt: skip
    rows, generated = rows_by_task(out), rows_by_task(tests_out)
    assert set(rows) == set(generated) == {"A", "B"}
    assert (
        generated["A"]["model"] == str(tiny_model_dir) and generated["A"]["sampling"]["max_new_tokens"] == 8
    )
    for task_id, row in rows.items():
        assert row["n_tests"] == len(generated[task_id]["tests"])  # a random model: usually none parse
    gate_failed = any(r["score"] < 0.5 for r in rows.values())
    assert proc.returncode == (1 if gate_failed else 0), proc.stderr
    assert json.loads(proc.stdout)["n_below_min_pass"] == sum(r["score"] < 0.5 for r in rows.values())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "pass exactly one of --tests FILE and --model M"),
        (["--tests", "T", "--model", "tiny-random"], "pass exactly one of --tests FILE and --model M"),
        (["--tests", "T", "--backend", "openai"], "--backend only applies with --model"),
        (["--model", "tiny-random", "--prompt", "nope"], "--prompt 'nope' is not available to filter"),
    ],
)
def test_cli_filter_test_source_errors(no_gold, tmp_path, extra, message):
    tasks, _ = no_gold
    out = tmp_path / "selected.jsonl"
    proc = run_cli("filter", "--tasks", str(tasks), "--out", str(out), *extra)
    assert proc.returncode == 2
    assert proc.stdout == "" and message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists() and not (tmp_path / "selected.tests.jsonl").exists()


def test_default_tests_path_sits_beside_out():
    assert default_tests_path(Path("runs/selected.jsonl")) == Path("runs/selected.tests.jsonl")
    assert default_tests_path(Path("picks")) == Path("picks.tests.jsonl")


# `filter --prompt atgen`: ATGEN's best-of-N use, K one-test prompts per task, each showing a candidate.


def atgen_answer(test_input: str, output: str) -> str:
    return f"<reasoning>this input exposes the code</reasoning>\n```\nInput:\n{test_input}\n\nOutput:\n{output}\n```\n"


class AnswersByShownCode:
    """A scripted test writer whose one test depends on the code its prompt shows: it attacks
    |a|+|b| with a negative number and the crashing code with a plain sum, else it tests 5 5."""

    def generate(self, prompts, params):
        from atest.core.generation import Completion

        texts = []
        for messages in prompts:
            shown = messages[-1]["content"]
            if "Read an integer n" in shown:
                texts.append(atgen_answer("3", "6"))
            elif "abs(a)" in shown:
                texts.append(atgen_answer("-3 1", "-2"))
            elif "a // 0" in shown:
                texts.append(atgen_answer("1 2", "3"))
            else:
                texts.append(atgen_answer("5 5", "10"))
        return [[Completion(t, 20, "stop", None) for _ in range(params.n)] for t in texts]


def test_atgen_units_show_every_candidate_in_turn_round_robin():
    from atest.core.gentests import prompt_units

    tasks = [task_from_dict(evalcases.TASK_A), task_from_dict({**evalcases.TASK_B, "candidates": {}})]
    units, n_without = prompt_units(tasks, "atgen", thinking=False, n_tests=12, tests_per_task=7)
    assert n_without == 1 and [u.test_index for u in units] == list(range(7))
    shown = [(u.conditioned_on.model, u.conditioned_on.index) for u in units]
    assert shown == [("m1", 0), ("m1", 1), ("m1", 2), ("m1", 3), ("m2", 0), ("m2", 1), ("m1", 0)]
    assert all(u.conditioned_on.code in u.messages[-1]["content"] for u in units)
    only_m2, _ = prompt_units(tasks[:1], "atgen", thinking=False, n_tests=12, tests_per_task=3, models=["m2"])
    assert [u.conditioned_on.index for u in only_m2] == [0, 1, 0]


def test_filter_atgen_prompt_defaults_to_the_authors_ten_tests_per_task():
    from atest.core import gentests
    from atest.core.generation import SamplingParams
    from atest.core.selection import TestGeneration

    generation = TestGeneration(gentests.BackendChoice("hf", "tiny-random"), SamplingParams(), "atgen")
    generation.check()
    assert generation.tests_per_task == 10
    with pytest.raises(Exception, match="--tests-per-task applies to --prompt atgen"):
        TestGeneration(gentests.BackendChoice("hf", "x"), SamplingParams(), "utrl", tests_per_task=3).check()


def test_cli_filter_atgen_writes_k_conditioned_tests_and_ranks_on_their_union(no_gold, tmp_path):
    from chat_server import ChatServer

    tasks, _ = no_gold
    out = tmp_path / "selected.jsonl"
    server = ChatServer(AnswersByShownCode(), model_name="scripted").start()
    try:
        proc = run_with_key(
            "filter", "--tasks", str(tasks), "--out", str(out), "--model", "scripted", "--backend", "openai",
            "--base-url", server.base_url, "--prompt", "atgen", "--tests-per-task", "7", "--json",
            "--cpu-seconds", evalcases.CPU,
        )  # fmt: skip
    finally:
        server.stop()
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(x) for x in (tmp_path / "selected.tests.jsonl").read_text().splitlines()]
    a_rows = sorted((r for r in rows if r["task_id"] == "A"), key=lambda r: r["test_index"])
    assert [r["test_index"] for r in a_rows] == list(range(7))
    assert [(r["conditioned_on"]["model"], r["conditioned_on"]["index"]) for r in a_rows][4:] == [
        ("m2", 0),
        ("m2", 1),
        ("m1", 0),
    ]
    assert all(len(r["tests"]) == 1 and "buggy_code" not in r for r in rows)
    # Task A's union: "5 5"->10, "-3 1"->-2, "1 2"->3 (the gold tests). m1: c0 3, c1 2, c2 0, c3 2;
    # m2: c0 0, c1 3 -> m1[0], tied with m2[1]. Task B: "3"->6 only: m1 c0, c3 and m2 c0 pass -> m1[0].
    picks = rows_by_task(out)
    assert picks["A"]["passed"] == {"m1": [3, 2, 0, 2], "m2": [0, 3]}
    assert (picks["A"]["model"], picks["A"]["index"], picks["A"]["n_tied"]) == ("m1", 0, 2)
    assert picks["B"]["passed"]["m1"] == [1, 0, 0, 1] and picks["B"]["n_tied"] == 3
