"""Statement examples as tests: the formats we read, what we skip, and validity on real tasks."""

import json
import subprocess
import sys

from shared_data import APPS, LEETCODE, needs_data

from atest.core.examples import example_tests
from atest.core.loaders import load_source
from atest.core.sandbox import Job, Program, Verdict, get_executor, judge
from atest.core.tasks import Task, read_tasks


def stdio_task(question: str) -> Task:
    return Task("t", question, "stdio", ["print(1)"], [{"input": "", "output": "1"}])


def functional_task(question: str) -> Task:
    return Task("t", question, "functional", ["x"], [{"input": [], "output": 1}], fn_name="f")


def test_codeforces_style_skips_the_format_sections():
    question = (
        "Sum them.\n\n-----Input-----\n\nThe first line contains n.\n\n-----Output-----\n\nPrint the sum.\n\n"
        "-----Examples-----\nInput\n2\n1 2\n\nOutput\n3\n\nInput\n1\n5\n\nOutput\n5\n\n-----Note-----\nEasy."
    )
    assert example_tests(stdio_task(question)) == [
        {"input": "2\n1 2\n", "output": "3\n"},
        {"input": "1\n5\n", "output": "5\n"},
    ]


def test_atcoder_style_output_ends_at_the_prose():
    question = (
        "Sample Input 1\n3\n1 2 3\n\nSample Output 1\n6\n\nThe sum is 6.\n\n"
        "Sample Input 2\n1\n7\n\nSample Output 2\n7\n"
    )
    assert example_tests(stdio_task(question)) == [
        {"input": "3\n1 2 3\n", "output": "6\n"},
        {"input": "1\n7\n", "output": "7\n"},
    ]


def test_leetcode_style_keyword_arguments_and_json_words():
    question = (
        'Example 1:\n\nInput: nums = [1,2,3], target = 4, name = "ab"\nOutput: true\n'
        'Explanation: ...\n\nExample 2:\nInput: nums = [], target = 0, name = ""\nOutput: [0,1]\n'
        "Example 3:\nInput: nums = __import__('os').system('x')\nOutput: 1\n"
    )
    assert example_tests(functional_task(question)) == [
        {"input": {"nums": [1, 2, 3], "target": 4, "name": "ab"}, "output": True},
        {"input": {"nums": [], "target": 0, "name": ""}, "output": [0, 1]},
    ]


def test_no_examples_gives_no_tests():
    assert example_tests(stdio_task("Print the answer.")) == []
    assert example_tests(functional_task("Input: 1\nOutput: not a literal")) == []


@needs_data
def test_examples_of_real_statements_are_mostly_valid():
    tasks, _ = load_source("leetcode", str(LEETCODE), limit=40)
    apps, _ = load_source("apps", str(APPS))
    jobs, expected = [], []
    for task in [*tasks, *apps]:
        for test in example_tests(task):
            jobs.append(Job(Program(task.gold_solutions[0], task.kind, task.fn_name), test["input"]))
            expected.append((test["output"], task.kind))
    with get_executor(workers=2) as executor:
        results = executor.run(jobs)
    accepted = sum(
        judge(r, out, kind) is Verdict.ACCEPTED for r, (out, kind) in zip(results, expected, strict=True)
    )
    assert len(jobs) >= 80
    assert accepted / len(jobs) >= 0.9


def test_cli_writes_a_tests_file(tmp_path):
    out = tmp_path / "examples.jsonl"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "atest",
            "example-tests",
            "--tasks",
            "atest/data/sample.jsonl",
            "--out",
            str(out),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    tasks, _ = read_tasks("atest/data/sample.jsonl")
    assert [r["task_id"] for r in rows] == [t.task_id for t in tasks]
    assert summary["n_tests"] == sum(len(r["tests"]) for r in rows) > 50
