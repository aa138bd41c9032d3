"""Live-code mutation, public examples, and mutant pools (buggy code, candidates) through the sandbox."""

from __future__ import annotations

import ast
import json

import pytest
from typer.testing import CliRunner

from atest.cli import app
from atest.core.mutation import generate_mutants, iter_mutants
from atest.core.mutation.classify import ClassifyOptions, Outcome, classify_tasks
from atest.core.mutation.live import live_body
from atest.core.mutation.pools import CANDIDATES_KEY, add_mutants, public_examples
from atest.core.sandbox import Job, Limits, Program, Verdict, get_executor, judge
from atest.core.tasks import Task, read_tasks, write_tasks

HEADER = """\
import sys
sys.setrecursionlimit(10000)
inf = float('inf')
UNUSED = 7

class ListNode:
    def __init__(self, val=0, next=None):
        self.val = val + 0
        self.next = next

def list_node(values):
    return [v * 2 for v in values]

def helper(x):
    return x - 1
"""
SOLUTION = """
class Solution:
    def best(self, nums: list[int]) -> int:
        lo = inf
        for x in nums:
            if x < lo:
                lo = x
        return helper(lo + 1)
"""


def _changed_top_level(source: str, mutant: str) -> set[int]:
    a, b = ast.parse(source).body, ast.parse(mutant).body
    return {i for i, (x, y) in enumerate(zip(a, b, strict=True)) if ast.dump(x) != ast.dump(y)}


def test_live_body_follows_names_from_the_entry_point():
    source = HEADER + SOLUTION
    tree = ast.parse(source)
    names = {i: ast.unparse(s).splitlines()[0] for i, s in enumerate(tree.body)}
    live = {names[i] for i in live_body(tree, "functional", "best")}
    assert live == {
        "import sys",
        "sys.setrecursionlimit(10000)",
        "inf = float('inf')",
        "def helper(x):",
        "class Solution:",
    }
    assert live_body(ast.parse(HEADER), "functional", "best") == list(range(len(ast.parse(HEADER).body)))


def test_functional_mutants_never_touch_dead_code():
    source = HEADER + SOLUTION
    dead = {3, 4, 5}  # UNUSED, ListNode, list_node
    everywhere = list(iter_mutants(source))
    live = list(iter_mutants(source, kind="functional", fn_name="best"))
    assert any(_changed_top_level(source, m.source) & dead for m in everywhere)
    assert live and not any(_changed_top_level(source, m.source) & dead for m in live)
    assert {m.description for m in live} >= {"< -> <=", "+ -> -", "- -> +"}
    assert generate_mutants(source, 5, 3, kind="functional", fn_name="best") == generate_mutants(
        source, 5, 3, kind="functional", fn_name="best"
    )


def test_stdio_keeps_every_statement_but_unused_definitions():
    source = "def unused(a):\n    return a + 1\n\ndef twice(a):\n    return a * 2\n\nn = int(input())\nprint(twice(n) - 1)\n"
    tree = ast.parse(source)
    assert live_body(tree, "stdio") == [1, 2, 3]
    descriptions = {m.description for m in iter_mutants(source, kind="stdio")}
    assert "* -> +" in descriptions and "- -> +" in descriptions
    assert "+ -> -" not in descriptions  # only `unused` adds


def test_public_examples_are_found_in_the_statement_whitespace_free():
    task = Task(
        task_id="t",
        question='Example 1:\nInput: nums = [1, 2,3], s = "ab"\nOutput: 3\nExample 2:\nInput: nums = [4], s = "c"',
        kind="functional",
        fn_name="f",
        gold_solutions=[],
        gold_tests=[
            {"input": {"nums": [9, 9], "s": "ab"}, "output": 0},
            {"input": {"nums": [1, 2, 3], "s": "ab"}, "output": 3},
            {"input": {"nums": [4], "s": "c"}, "output": 1},
        ],
    )
    assert public_examples(task) == [1, 2]
    stdio = Task(
        "s",
        "Input\n3\n1 2 3\nOutput\n6",
        "stdio",
        gold_solutions=[],
        gold_tests=[{"input": "3\n1 2 3\n", "output": "6"}],
    )
    assert public_examples(stdio) == [0]


# --- pools through the sandbox -----------------------------------------------------------------

GOLD = """\
class Solution:
    def score(self, nums: list[int], k: int) -> int:
        total = 0
        for x in nums:
            if x % k == 0:
                total += x
            elif x > 10:
                total -= 1
        return max(total, 0)
"""


def _task() -> Task:
    tests = [
        {"input": [[3, 6, 7], 3], "output": 9},  # shown in the statement below
        {"input": [[12, 13, 2], 5], "output": 0},
        {"input": [[5, 10, 11, 20], 5], "output": 35},
        {"input": [[4, 8, 16], 4], "output": 28},
        {"input": [[1], 1], "output": 1},
        {"input": [[30, 1, 45], 15], "output": 75},
    ]
    question = "Sum the multiples of k, minus one per other number above 10.\nInput: nums = [3,6,7], k = 3"
    return Task("pool-task", question, "functional", gold_solutions=[GOLD], gold_tests=tests, fn_name="score")


@pytest.fixture(scope="module")
def executor():
    with get_executor(workers=2) as ex:
        yield ex


def test_buggy_code_is_killed_by_gold_tests_and_prefers_passing_public_examples(executor):
    task = _task()
    report = add_mutants([task], executor, k=3, pool="buggy", opts=ClassifyOptions(seed=1))
    (out,) = report.tasks
    assert out.gold_tests == task.gold_tests  # order restored
    assert len(out.buggy_code) == 3 and CANDIDATES_KEY not in out.candidates
    limits = Limits(cpu_seconds=1.0)
    for code in out.buggy_code:
        verdicts = [
            judge(e, t["output"], "functional")
            for e, t in zip(
                executor.run(
                    [Job(Program(code, "functional", "score"), t["input"], limits) for t in task.gold_tests]
                ),
                task.gold_tests,
                strict=True,
            )
        ]
        assert any(v is not Verdict.ACCEPTED for v in verdicts)
    # the same 9 (3 x oversampling) mutants: as many chosen as possible pass the public example
    (tm,) = classify_tasks([task], executor, ClassifyOptions(k=9, seed=1))
    passing = [m for m in tm.mutants if m.detected and m.passes_first(1)]
    assert report.n_buggy_passing_public == min(3, len(passing))
    assert report.to_json()["n_mutants"] == 9 == sum(report.outcomes.values())


def test_candidate_pool_mixes_gold_survivors_and_killed_and_is_seeded(executor):
    task = _task()
    first = add_mutants([task], executor, k=6, pool="candidates", opts=ClassifyOptions(seed=2))
    again = add_mutants([task], executor, k=6, pool="candidates", opts=ClassifyOptions(seed=2))
    pool = first.tasks[0].candidates[CANDIDATES_KEY]
    assert pool == again.tasks[0].candidates[CANDIDATES_KEY]
    assert len(pool) == 6 and GOLD in pool and len(set(pool)) == 6
    assert first.tasks[0].buggy_code == []
    (tm,) = classify_tasks([task], executor, ClassifyOptions(k=18, seed=2))
    outcome = {m.mutant.source: m.outcome for m in tm.mutants}
    kinds = [outcome.get(code) for code in pool if code != GOLD]
    assert sum(k is not Outcome.SURVIVED for k in kinds) >= 3


def test_tasks_without_usable_mutants_are_kept_and_counted(executor):
    no_sites = Task("n", "q", "functional", gold_solutions=["def f(x):\n    pass\n"], fn_name="f",
                    gold_tests=[{"input": [1], "output": None}])  # fmt: skip
    wrong_gold = Task("w", "q2", "functional", gold_solutions=[GOLD], fn_name="score",
                      gold_tests=[{"input": [[3], 3], "output": 4}])  # fmt: skip
    report = add_mutants([no_sites, wrong_gold], executor, k=2)
    assert report.tasks == [no_sites, wrong_gold]
    assert report.skipped == {"gold_fails_its_tests": 1, "no_mutants": 1}
    with pytest.raises(ValueError):
        add_mutants([no_sites], executor, k=2, pool="nope")  # type: ignore[arg-type]


# --- the prepare command ------------------------------------------------------------------------


def test_prepare_mutants_into_buggy_and_bad_pool(tmp_path):
    src = tmp_path / "in.jsonl"
    write_tasks(src, [_task()])
    out = tmp_path / "out.jsonl"
    runner = CliRunner()
    args = ["prepare", "--source", "jsonl", "--path", str(src), "--out", str(out), "--json"]
    result = runner.invoke(app, [*args, "--mutants", "2", "--mutants-into", "buggy", "--workers", "2"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["n_mutants"] == 6 and summary["mutants"]["n_buggy"] == 2
    assert summary["mutants"]["into"] == "buggy" and summary["mutants"]["n_tasks_with_public_examples"] == 1
    (task,), _ = read_tasks(out)
    assert len(task.buggy_code) == 2 and task.candidates == {}
    bad = runner.invoke(
        app, [*args[:-3], "--out", str(tmp_path / "x.jsonl"), "--mutants", "2", "--mutants-into", "pool"]
    )
    assert bad.exit_code == 2 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == [
        "error: unknown mutant pool 'pool' (use one of buggy, candidates, both)"
    ]
    assert not (tmp_path / "x.jsonl").exists()
