"""UTRL's own rules (`--paper utrl`), each on a small case worked out by hand from the
authors' parsing_utils, testing_utils, reward.py and evaluate_bon_solution.py."""

from __future__ import annotations

import json

import pytest
from atest_cli import run_cli

from atest.core.checking import Test
from atest.core.errors import InputError
from atest.core.paper import utrl as paper
from atest.core.rewards.utrl import (
    UtrlCodeItem,
    UtrlRewardConfig,
    UtrlTestItem,
    score_utrl_code,
    score_utrl_tests,
)
from atest.core.rules import UTRL
from atest.core.sandbox import Limits, get_executor
from atest.core.tasks import Task

LIMITS = Limits(cpu_seconds=1)
SUM = "a, b = map(int, input().split())\nprint(a + b)\n"


def score_utrl_tests_paper(executor, items, **kwargs):
    """The test reward under the authors' rules: atest's reward with `rules=UTRL`."""
    return score_utrl_tests(executor, items, UtrlRewardConfig(), rules=UTRL, **kwargs)


def score_utrl_code_paper(executor, items, **kwargs):
    return score_utrl_code(executor, items, UtrlRewardConfig(), rules=UTRL, **kwargs)


@pytest.fixture(scope="module")
def executor():
    with get_executor(workers=2) as ex:
        yield ex


def fence(inp: str, out: str, label: str = "") -> str:
    return f"```{label}\nInput:\n{inp}\n\nOutput:\n{out}\n```"


def test_parser_reads_any_fence_strips_values_and_keeps_duplicates():
    text = (
        "<reasoning>\n" + fence(" 1 2 ", "3") + "\n</reasoning>\n"  # inside reasoning: counted
        + fence("1 2", "3", "bash") + "\n" + fence("5 5", " 10 ", "python")
    )  # fmt: skip
    assert paper.parse_tests(text) == [Test("1 2", "3"), Test("1 2", "3"), Test("5 5", "10")]
    assert paper.unique_tests(paper.parse_tests(text)) == [Test("1 2", "3"), Test("5 5", "10")]


def test_parser_needs_a_newline_after_each_marker():
    assert paper.parse_tests("```\nInput: 5\nOutput:\n25\n```") == []
    assert paper.parse_tests("```\r\nInput:\r\n5\r\n\r\nOutput:\r\n25\r\n```") == []


def test_test_format_counts_exact_case_tags_and_needs_a_final_fence():
    one = "<reasoning>r</reasoning>\n" + fence("1", "1")
    assert paper.test_format(one, 1) == 1.0
    assert paper.test_format(one + "\ndone", 1) == 0.0
    assert paper.test_format(one.replace("reasoning", "REASONING"), 1) == 0.0
    assert paper.test_format("```python\nprint(1)\n```", 0) == 1.0  # no test, no tag: 1


def test_code_extraction_and_format():
    assert paper.extract_code("<reasoning>x</reasoning>\n```python\nprint(1)\n```") == "print(1)"
    assert paper.extract_code("plain text\n```\nprint(2)\n```") == "plain text"  # no python fence
    assert paper.code_format("<reasoning>x</reasoning>\n```python\nprint(1)\n```") == 1.0
    assert paper.code_format("<reasoning>x</reasoning>\n```\nprint(1)\n```") == 0.0  # unlabelled
    assert paper.code_format("<reasoning> </reasoning>\n```python\nprint(1)\n```") == 0.0


@pytest.mark.parametrize(
    ("code", "lang"),
    [
        (SUM, "python3"),
        ("n = int(raw_input())\nprint n\n", "python2"),
        ("#include <iostream>\nint main() { std::cout << 1; }\n", "cpp"),
        ("x = 1\n", "python"),  # no clue either way: run as Python 3 with the header
    ],
)
def test_language_sniffing(code, lang):
    assert paper.language(code) == lang
    assert (paper.program_source(code) is not None) is (lang in ("python3", "python"))


def _task(gold: str, tests: list[dict] | None = None, candidates: list[str] | None = None) -> Task:
    return Task("t", "q", "stdio", [gold], tests or [], candidates={"m1": candidates or []})


@pytest.mark.parametrize(
    ("code", "expected", "passes"),
    [
        (SUM, "3", True),
        ("import sys\n" + SUM + "print('dbg', file=sys.stderr)\n", "3", False),  # stderr fails
        ("print(float(sum(map(int, input().split()))))\n", "3", False),  # 3.0 is not 3
        ("print('3 ')\nprint()\n", "3", True),  # stripped
        ("print('1  2')\n", "1 2", False),  # inner spacing counts
        ("pass\n", "", False),  # empty expected output can never be passed
        ("print(pow(2, 10, 1000))\n", "24", False),  # math.pow from the header: TypeError
    ],
)
def test_the_authors_judge(executor, code, expected, passes):
    [result] = score_utrl_code_paper(
        executor,
        [UtrlCodeItem(_task(SUM), f"```python\n{code}```", [{"input": "1 2", "output": expected}])],
        gold_tests=True,
        limits=LIMITS,
    )
    assert (result.components["pass_rate"] > 0) is passes


def test_paper_test_reward_by_hand(executor):
    task = _task(SUM, candidates=[SUM, "print(3)\n", "import sys\n" + SUM + "print(1, file=sys.stderr)\n"])
    block = "<reasoning>r</reasoning>\n{}\n"
    response = "".join(
        block.format(fence(i, o)) for i, o in [("1 2", "3"), ("1 2", "3"), ("2 2", "4"), ("0 0", "1")]
    )
    code_only = "```python\nprint(1)\n```"
    [r, empty, none] = score_utrl_tests_paper(
        executor,
        [UtrlTestItem(task, response.strip(), task.candidates["m1"]), UtrlTestItem(task, code_only, [SUM]),
         UtrlTestItem(task, response.strip(), [])],
        limits=LIMITS,
    )  # fmt: skip
    # 4 parsed, 3 unique, 2 valid ("0 0" -> 1 is wrong); print(3) fails "2 2", the stderr one
    # fails everything, the correct one nothing: 2 of 3 caught.
    assert r.components["n_test_cases"] == 4 and r.components["n_unique_test_cases"] == 3
    assert r.components["validity_ratio"] == pytest.approx(2 / 3)
    assert r.components["clipped_validity"] == pytest.approx(2 / 12)
    assert r.components["entire_discrimination_reward"] == pytest.approx(2 / 3)
    assert r.components["duplication_penalty"] == pytest.approx(1 / 4)
    assert r.score == pytest.approx(0.1 * 1 + 0.85 * 2 / 3 + 0.05 * 2 / 12)
    assert empty.score == pytest.approx(0.1)  # no test, no tag, ends with a fence
    assert none.score == 0.0 and none.components["formatting_reward"] == 0.0  # no opponent: their except


def test_paper_code_reward_by_hand(executor):
    task = _task(SUM)
    tests = [
        {"input": "1 2", "output": "3"},
        {"input": "1 2", "output": "3"},
        {"input": "2 2", "output": "5"},
    ]
    response = "<reasoning>sum</reasoning>\n```python\n" + SUM + "```"
    [r] = score_utrl_code_paper(executor, [UtrlCodeItem(task, response, tests)], limits=LIMITS)
    # "2 2" -> 5 is invalid; the duplicate stays: 2 passed of 2 valid, over 2 + 1e-6.
    assert r.components["pass_rate"] == pytest.approx(2 / (2 + 1e-6), abs=1e-12)
    assert r.score == pytest.approx(0.9 * 2 / (2 + 1e-6) + 0.1, abs=1e-12)


SQUARE_OK = "n = int(input())\nprint(n * n)\n"
SQUARE_ID = "n = int(input())\nprint(n)\n"
DOUBLE_OK = "print(2 * int(input()))\n"
WRONG3 = "print(3)\n"


def test_bon_paper_by_hand(tmp_path):
    """Worked out from evaluate_bon_solution: scores = passed / len(tests) with duplicates kept,
    the last best index selected, candidate 0 when no test parsed, each model on its own."""
    tasks = [
        Task("A", "sum", "stdio", [SUM], [{"input": "1 2\n", "output": "3\n"}, {"input": "5 5\n", "output": "10\n"}],
             candidates={"m1": [SUM, WRONG3, "print(sum(map(int, input().split())))\n"], "m2": [WRONG3, SUM]}),
        Task("B", "double", "stdio", [DOUBLE_OK], [{"input": "3\n", "output": "6\n"}],
             candidates={"m1": [WRONG3, DOUBLE_OK], "m2": [DOUBLE_OK, WRONG3]}),
        Task("C", "square", "stdio", [SQUARE_OK], [{"input": "3\n", "output": "9\n"}],
             candidates={"m1": [SQUARE_OK, SQUARE_ID], "m2": [SQUARE_ID, SQUARE_OK]}),
    ]  # fmt: skip
    responses = {
        "A": fence("1 2", "3") + "\n" + fence("1 2", "3") + "\n" + fence("2 2", "4"),
        "B": "Input: 3\nOutput: 6",  # nothing the authors' parser reads
        "C": fence("0", "0") + "\n" + fence("1", "1"),
    }
    (tmp_path / "tasks.jsonl").write_text("".join(json.dumps(t.to_dict()) + "\n" for t in tasks))
    rows = [{"task_id": k, "tests": [], "responses": [v]} for k, v in responses.items()]
    (tmp_path / "tests.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "cells.jsonl"
    args = ["bon", "--tasks", str(tmp_path / "tasks.jsonl"), "--tests", str(tmp_path / "tests.jsonl")]
    result = run_cli(*args, "--paper", "utrl", "--json", "--out", str(out), "--cpu-seconds", "1")
    assert result.returncode == 0, result.stderr
    cells = {(c["task_id"], c["model"]): c for c in map(json.loads, out.read_text().splitlines())}
    # A: 3 tests (a duplicate kept); print(3) passes the two copies of "1 2": 2/3.
    assert cells["A", "m1"]["scores"] == pytest.approx([1, 2 / 3, 1])
    assert cells["A", "m1"]["selected"] == 2 and cells["A", "m1"]["selected_passed_gold"] == 1.0
    assert cells["A", "m2"]["selected"] == 1 and cells["A", "m2"]["selected_passed_gold"] == 1.0
    # B: no test parsed: candidate 0, wrong for m1, right for m2.
    assert cells["B", "m1"]["best_score"] is None and cells["B", "m1"]["scores"] == [0, 0]
    assert cells["B", "m1"]["selected"] == 0 and cells["B", "m1"]["selected_passed_gold"] == 0.0
    assert cells["B", "m2"]["selected_passed_gold"] == 1.0
    # C: both candidates pass 0 -> 0 and 1 -> 1; the last one is chosen.
    assert cells["C", "m1"]["selected"] == 1 and cells["C", "m1"]["selected_passed_gold"] == 0.0
    assert cells["C", "m2"]["selected"] == 1 and cells["C", "m2"]["selected_passed_gold"] == 1.0
    summary = json.loads(result.stdout)
    assert summary["per_model"] == {"m1": pytest.approx(1 / 3), "m2": 1.0}
    assert summary["accuracy"] == pytest.approx(2 / 3) and summary["tie"] == "last"
    assert summary["n_tasks_without_tests"] == 1


def test_bon_paper_refuses_contradicting_flags(tmp_path):
    args = ["bon", "--tasks", str(tmp_path / "t.jsonl"), "--tests", "ground_truth", "--paper", "utrl"]
    for extra in (["--tie", "first"], ["--drop-invalid"], ["--ns", "1,2"]):
        result = run_cli(*args, *extra)
        assert result.returncode == 2 and "--paper utrl" in result.stderr, extra
    result = run_cli(*args[:-1], "cure")
    assert result.returncode == 2 and "--paper 'cure'" in result.stderr


def test_paper_rules_refuse_what_the_authors_code_cannot_score(executor):
    functional = Task("f", "q", "functional", ["def f(x):\n    return x\n"], [], fn_name="f")
    with pytest.raises(InputError, match="stdio tasks only"):
        score_utrl_tests_paper(executor, [UtrlTestItem(functional, fence("[1]", "1"), ["x"])], limits=LIMITS)
    no_gold = Task("g", "q", "stdio", [], [])
    with pytest.raises(InputError, match="no gold solution"):
        score_utrl_tests_paper(executor, [UtrlTestItem(no_gold, fence("1", "1"), [SUM])], limits=LIMITS)
