"""`atest reward`: every kind through the CLI, rows kept, bad input refused with exit 2."""

from __future__ import annotations

import json

import pytest
from atest_cli import run_cli

from atest.core.tasks import Task

SUM = "a, b = map(int, input().split())\nprint(a + b)\n"
DIFF = "a, b = map(int, input().split())\nprint(a - b)\n"
TESTS = "<reasoning>r</reasoning>\n```\nInput:\n1 2\n\nOutput:\n3\n```\n"
CODE = "<reasoning>add</reasoning>\n```python\n" + SUM + "```"


@pytest.fixture
def files(tmp_path):
    task = Task(
        "t", "sum", "stdio", [SUM], [{"input": "2 2\n", "output": "4\n"}],
        candidates={"b": [SUM], "a": [SUM, DIFF]}, buggy_code=[DIFF],
    )  # fmt: skip
    (tmp_path / "tasks.jsonl").write_text(json.dumps(task.to_dict()) + "\n")
    return tmp_path


def _run(files, kind: str, rows: list[dict], *flags: str):
    (files / "r.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = [
        "reward",
        "--kind",
        kind,
        "--tasks",
        str(files / "tasks.jsonl"),
        "--responses",
        str(files / "r.jsonl"),
    ]
    result = run_cli(
        *args, "--out", str(files / "o.jsonl"), "--json", "--force", "--cpu-seconds", "1", *flags
    )
    out = (
        [json.loads(line) for line in (files / "o.jsonl").read_text().splitlines()]
        if result.returncode == 0
        else []
    )
    return result, out


def test_utrl_test_scores_against_the_first_model_and_keeps_fields(files):
    result, [row] = _run(files, "utrl-test", [{"id": "x1", "task_id": "t", "response": TESTS, "note": 7}])
    assert result.returncode == 0, result.stderr
    assert row["id"] == "x1" and row["note"] == 7 and row["response"] == TESTS
    # model "a" (first by name): SUM and DIFF; the one valid test catches DIFF: 1 of 2.
    assert row["components"]["discrimination"] == 0.5
    assert row["reward"] == pytest.approx(0.1 + 0.85 * 0.5 + 0.05 / 12)
    summary = json.loads(result.stdout)
    assert summary["n_responses"] == 1 and summary["mean_reward"] == row["reward"]
    _, [row_b] = _run(files, "utrl-test", [{"task_id": "t", "response": TESTS}], "--solution-model", "b")
    assert row_b["components"]["discrimination"] == 0.0


def test_utrl_code_takes_tests_from_the_row_or_from_tests(files):
    rows = [
        {"task_id": "t", "response": CODE, "tests": [{"input": "1 2\n", "output": "3\n"}]},
        {"task_id": "t", "response": CODE, "test_response": TESTS},
    ]
    result, out = _run(files, "utrl-code", rows)
    assert result.returncode == 0, result.stderr
    assert [r["reward"] for r in out] == [1.0, 1.0]
    result, [paper] = _run(
        files, "utrl-code", [{"task_id": "t", "response": CODE}], "--tests", "ground_truth", "--paper", "utrl"
    )
    assert result.returncode == 0, result.stderr
    assert paper["reward"] == pytest.approx(0.9 / (1 + 1e-6) + 0.1)


def test_atgen_scores_against_the_tasks_buggy_code(files):
    result, [row] = _run(files, "atgen", [{"task_id": "t", "response": TESTS}])
    assert result.returncode == 0, result.stderr
    assert row["components"]["io_accuracy"] == 1.0 and row["components"]["attack"] == 1.0


@pytest.mark.parametrize(
    ("kind", "rows", "flags", "message"),
    [
        ("utrl-test", [{"task_id": "nope", "response": "x"}], [], "not in the tasks file"),
        ("utrl-test", [{"task_id": "t"}], [], "string 'response'"),
        ("utrl-code", [{"task_id": "t", "response": CODE}], [], "utrl-code needs tests"),
        ("atgen", [{"task_id": "t", "response": TESTS}], ["--paper", "utrl"], "--paper utrl applies"),
        ("utrl-tests", [{"task_id": "t", "response": TESTS}], [], "--kind 'utrl-tests'"),
        (
            "utrl-test",
            [{"task_id": "t", "response": TESTS}],
            ["--solution-model", "zz"],
            "no candidates from 'zz'",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(files, kind, rows, flags, message):
    result, _ = _run(files, kind, rows, *flags)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not (files / "o.jsonl").exists()


def test_listed_in_help_with_its_options():
    listing = run_cli("--help")
    assert any(line.strip().startswith("reward ") for line in listing.stdout.splitlines())
    own = run_cli("reward", "--help")
    assert own.returncode == 0 and "--paper" in own.stdout and "--solution-model" in own.stdout
