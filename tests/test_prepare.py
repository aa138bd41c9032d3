"""`prepare`: normalisation, de-duplication, exclusion, sandbox verification, and the command's contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from shared_data import APPS, LEETCODE, needs_data
from typer.testing import CliRunner

from atest.cli import app
from atest.core.errors import InputError
from atest.core.loaders import LoadProblem
from atest.core.prepare import PrepareOptions, normalise_statement, prepare_tasks
from atest.core.tasks import Task, read_tasks, write_tasks

ADD = "a, b = map(int, input().split())\nprint(a + b)\n"
SUB = "a, b = map(int, input().split())\nprint(a - b)\n"
TESTS = [{"input": "1 2\n", "output": "3\n"}, {"input": "5 5\n", "output": "10\n"}]


def stdio_task(task_id: str, question: str = "Add two numbers.", golds=(ADD,), tests=TESTS, **kw) -> Task:
    return Task(
        task_id=task_id,
        question=question,
        kind="stdio",
        gold_solutions=list(golds),
        gold_tests=list(tests),
        **kw,
    )


def run(*args: str):
    return CliRunner().invoke(app, ["prepare", *args])


# --- core steps without execution -------------------------------------------------------------


def test_statements_are_deduplicated_after_normalisation():
    assert normalise_statement("  Add\u00a0TWO\n numbers. ") == normalise_statement("add two numbers.")
    tasks = [
        stdio_task("a"),
        stdio_task("b", question="ADD  two\nnumbers."),
        stdio_task("c", question="Other."),
    ]
    kept, summary = prepare_tasks(tasks, [], PrepareOptions())
    assert [t.task_id for t in kept] == ["a", "c"]
    assert summary.dropped_by_reason == {"duplicate": 1}
    assert (summary.n_in, summary.n_out, summary.n_dropped) == (3, 2, 1)


def test_atgen_pairs_of_one_question_stay_training_slots_after_deduplication(tmp_path):
    """ATGEN's parquet has one row per (question, buggy code) pair: the pairs of a question
    become one task holding every distinct buggy code, each a training slot."""
    import pandas as pd

    from atest.core.loaders import load_source
    from atest.core.training.phases.atgen_loop import build_slots

    tests = json.dumps({"inputs": ["1 2\n"], "outputs": ["3\n"]})
    bugs = ["print(1)", "print(2)", "print(1)", "print(3)"]  # a repeated pair counts once
    rows = [{"question": "Print a+b.", "buggy_code": b, "gold_code": ADD, "tests": tests} for b in bugs]
    rows.append({"question": "Other.", "buggy_code": "print(9)", "gold_code": ADD, "tests": tests})
    path = tmp_path / "atgen.parquet"
    pd.DataFrame(rows).to_parquet(path)
    tasks, problems = load_source("atgen", str(path))
    kept, summary = prepare_tasks(tasks, problems, PrepareOptions())
    assert [t.buggy_code for t in kept] == [["print(1)", "print(2)", "print(3)"], ["print(9)"]]
    assert summary.dropped_by_reason == {"duplicate": 3}
    assert "its 1 buggy code(s) joined it" in summary.problems[0]
    assert len(build_slots(kept, None)) == 4 and len(build_slots(kept, 1)) == 2


def test_exclude_drops_statements_found_in_another_task_file(tmp_path):
    write_tasks(tmp_path / "eval.jsonl", [stdio_task("e1", question="add two NUMBERS.")])
    tasks = [stdio_task("a"), stdio_task("b", question="Something else.")]
    kept, summary = prepare_tasks(tasks, [], PrepareOptions(exclude=[tmp_path / "eval.jsonl"]))
    assert [t.task_id for t in kept] == ["b"]
    assert summary.dropped_by_reason == {"excluded": 1}


def test_unparsable_golds_are_dropped_and_strict_makes_them_fatal():
    py2 = "print 'hello'\n"
    tasks = [
        stdio_task("mixed", golds=[py2, ADD, ADD]),
        stdio_task("py2only", question="Q2", golds=[py2], extra={"origin": "data.jsonl:7"}),
    ]
    kept, summary = prepare_tasks(tasks, [], PrepareOptions())
    assert [t.task_id for t in kept] == ["mixed"]
    assert kept[0].gold_solutions == [ADD]  # the repeat is dropped too
    assert summary.dropped_by_reason == {"gold_syntax_error": 1}
    assert summary.n_gold_syntax_error == 2
    with pytest.raises(InputError) as info:
        prepare_tasks(tasks[1:], [], PrepareOptions(strict=True))
    assert info.value.message.startswith("data.jsonl:7: field 'gold_solutions[0]' does not parse (line 1:")


def test_bad_records_are_counted_or_fatal_with_strict():
    problems = [
        LoadProblem("f.jsonl:3", "missing field 'question'"),
        LoadProblem("f.jsonl:4", "x", "unsupported_type"),
    ]
    kept, summary = prepare_tasks([stdio_task("a")], problems, PrepareOptions())
    assert len(kept) == 1 and summary.dropped_by_reason == {"bad_record": 1, "unsupported_type": 1}
    with pytest.raises(InputError, match=r"^f\.jsonl:3: missing field 'question' \(1 bad record"):
        prepare_tasks([stdio_task("a")], problems, PrepareOptions(strict=True))


def test_caps_and_repeated_inputs():
    tests = [*TESTS, {"input": "1 2\n", "output": "3\n"}, {"input": "0 0\n", "output": "0\n"}]
    (task,), _ = prepare_tasks(
        [stdio_task("a", golds=[ADD, SUB], tests=tests)], [], PrepareOptions(max_gold=1)
    )
    assert len(task.gold_tests) == 3 and task.gold_solutions == [ADD]
    (task,), _ = prepare_tasks([stdio_task("a", tests=tests)], [], PrepareOptions(max_tests=2))
    assert task.gold_tests == TESTS


# --- verification through the sandbox -----------------------------------------------------------


def test_verify_puts_verified_golds_first_and_drops_tasks_without_one():
    tasks = [
        stdio_task("good", golds=[SUB, ADD]),
        stdio_task("bad", question="Subtract?", golds=[SUB]),
        stdio_task("none", question="No gold.", golds=[]),
    ]
    kept, summary = prepare_tasks(tasks, [], PrepareOptions(verify=True, workers=2))
    assert [t.task_id for t in kept] == ["good"]
    assert kept[0].gold_solutions == [ADD, SUB]
    assert kept[0].extra["n_verified_gold"] == 1
    assert summary.dropped_by_reason == {"gold_fails_tests": 1, "no_gold_solution": 1}
    assert (summary.n_gold_checked, summary.n_gold_verified, summary.n_executions) == (3, 1, 6)


def test_verify_rewraps_apps_outputs_when_only_the_wrapped_reading_passes():
    # APPS stored `[[5]]` for a function returning [5]; the loader's unwrapping guessed 5.
    task = Task(
        task_id="apps-x",
        question="Return [n].",
        kind="functional",
        fn_name="box",
        gold_solutions=["def box(n):\n    return [n]\n"],
        gold_tests=[{"input": [5], "output": 5}],
        extra={"apps_outputs_unwrapped": True},
    )
    (kept,), summary = prepare_tasks([task], [], PrepareOptions(verify=True, workers=1))
    assert kept.gold_tests == [{"input": [5], "output": [5]}]
    assert kept.extra["apps_outputs_unwrapped"] is False
    assert summary.n_rewrapped == 1


# --- the command ----------------------------------------------------------------------------------


@needs_data
def test_prepare_apps_folder_verifies_all_five(tmp_path):
    out = tmp_path / "apps.jsonl"
    result = run(
        "--source", "apps", "--path", str(APPS), "--verify", "--out", str(out), "--json", "--workers", "2"
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["n_in"], summary["n_out"], summary["n_dropped"]) == (5, 5, 0)
    assert summary["dropped_by_reason"] == {}
    tasks, _ = read_tasks(out)
    assert sorted(t.kind for t in tasks) == ["functional"] * 2 + ["stdio"] * 3
    assert all(t.extra["n_verified_gold"] >= 1 for t in tasks)
    assert "kept" in result.stderr


@needs_data
@pytest.mark.slow
def test_prepare_leetcode_verifies_and_keeps_nearly_all(tmp_path):
    result = run("--source", "leetcode", "--path", str(LEETCODE), "--limit", "25", "--verify", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["n_in"] == 25
    assert summary["n_out"] >= 24
    assert summary["n_gold_verified"] == summary["n_out"]


def test_prepare_sample_writes_parquet(tmp_path):
    out = tmp_path / "s.parquet"
    result = run("--source", "sample", "--limit", "8", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n_out"] == 8
    assert len(read_tasks(out)[0]) == 8


def bad_input_cases(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    row = {"task_id": "a", "question": "q", "kind": "stdio", "gold_solutions": [ADD], "gold_tests": TESTS}
    missing = tmp_path / "missing_field.jsonl"
    missing.write_text(json.dumps(row) + "\n" + json.dumps({**row, "task_id": "b", "question": None}) + "\n")
    noparse = tmp_path / "noparse.jsonl"
    noparse.write_text(json.dumps({**row, "gold_solutions": ["def f(:\n"]}) + "\n")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    wrong = tmp_path / "tasks.txt"
    wrong.write_text("hello\n")
    return {
        "missing file": (["--source", "jsonl", "--path", str(tmp_path / "nope.jsonl")], "no such file"),
        "wrong format": (["--source", "jsonl", "--path", str(wrong)], "unsupported file type"),
        "unknown source": (["--source", "nope", "--path", str(empty)], "unknown source 'nope'"),
        "empty dataset": (["--source", "jsonl", "--path", str(empty)], "empty"),
        "record missing a field": (
            ["--source", "jsonl", "--path", str(missing), "--strict"],
            f"{missing}:2: missing field 'question'",
        ),
        "gold does not parse": (
            ["--source", "jsonl", "--path", str(noparse)],
            f"{noparse}:1: field 'gold_solutions[0]' does not parse",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing file",
        "wrong format",
        "unknown source",
        "empty dataset",
        "record missing a field",
        "gold does not parse",
    ],
)
def test_bad_input_is_one_line_nonzero_and_writes_nothing(tmp_path, case):
    args, expected = bad_input_cases(tmp_path)[case]
    out = tmp_path / "out" / "tasks.jsonl"
    result = run(*args, "--out", str(out), "--json")
    assert result.exit_code == 2, result.output
    assert json.loads(result.stdout)["error"]["exit_code"] == 2  # --json: the error as one object
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and expected in lines[0]
    assert not out.exists()
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_a_failed_run_leaves_an_existing_output_untouched(tmp_path):
    out = tmp_path / "tasks.jsonl"
    out.write_text("previous\n")
    result = run("--source", "jsonl", "--path", str(tmp_path / "absent.jsonl"), "--out", str(out))
    assert result.exit_code == 2
    assert out.read_text() == "previous\n"


def test_unreachable_hub_id_is_an_external_error_in_one_line():
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "atest",
            "prepare",
            "--source",
            "taco",
            "--path",
            "no-such-owner-xyz/no-such-ds",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no-such-owner-xyz/no-such-ds" in lines[0]
