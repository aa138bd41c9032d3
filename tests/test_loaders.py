"""Every loader on real files (../shared/data) and on small files written in each source's real schema."""

from __future__ import annotations

import base64
import json
import pickle
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from shared_data import APPS, LEETCODE, needs_data

from atest.core.errors import InputError
from atest.core.loaders import SOURCES, load_source
from atest.core.loaders.leetcode import parse_case, parse_kwargs
from atest.core.loaders.livecodebench import decode_test_cases, restricted_unpickle
from atest.core.tasks import Task, write_tasks


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_parquet(path: Path, rows: list[dict]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def by_id(tasks: list[Task]) -> dict[str, Task]:
    return {t.task_id: t for t in tasks}


# --- APPS / TACO ------------------------------------------------------------------------------


@needs_data
def test_apps_folder_layout_loads_all_five_with_both_kinds():
    tasks, problems = load_source("apps", str(APPS))
    assert problems == []
    tasks = by_id(tasks)
    assert sorted(tasks) == ["apps-0001", "apps-0111", "apps-2287", "apps-2404", "apps-4184"]
    assert [tasks[i].kind for i in ("apps-0001", "apps-0111", "apps-2287")] == ["stdio"] * 3
    assert tasks["apps-2404"].kind == tasks["apps-4184"].kind == "functional"
    assert tasks["apps-2404"].fn_name == "findKthPositive"
    assert tasks["apps-2404"].starter_code.startswith("class Solution")
    assert tasks["apps-0001"].gold_tests == [{"input": "3\n2 2 3\n4 3 7\n10 1 9\n", "output": "1\n6\n-1\n"}]
    assert tasks["apps-0001"].difficulty == "interview"
    assert len(tasks["apps-0001"].gold_solutions) == 24


@needs_data
def test_apps_call_based_outputs_are_unwrapped_only_when_every_output_is_wrapped():
    tasks = by_id(load_source("apps", str(APPS))[0])
    prime = tasks["apps-4184"]  # outputs [[false], [true], ...]
    assert prime.gold_tests[0] == {"input": [1], "output": False}
    assert prime.extra["apps_outputs_unwrapped"] is True
    kth = tasks["apps-2404"]  # outputs [9]: not wrapped
    assert kth.gold_tests == [{"input": [[2, 3, 4, 7, 11], 5], "output": 9}]
    assert "apps_outputs_unwrapped" not in kth.extra


TACO_ROWS = [
    {
        "question": "Print the sum of two integers.",
        "solutions": json.dumps(["a, b = map(int, input().split())\nprint(a + b)\n"]),
        "starter_code": "",
        "input_output": json.dumps({"inputs": ["1 2\n", ["3 4"]], "outputs": ["3\n", ["7"]]}),
        "difficulty": "EASY",
        "source": "codeforces",
        "url": "https://example.org/1",
    },
    {
        "question": "Return double.",
        "solutions": json.dumps(["def double(x):\n    return 2 * x\n"]),
        "starter_code": "def double(x):\n\t",
        "input_output": json.dumps({"fn_name": "double", "inputs": [[1], [5]], "outputs": [[2], [10]]}),
        "difficulty": "MEDIUM",
        "source": "codewars",
        "url": "https://example.org/2",
    },
    {
        "question": "Broken row.",
        "solutions": "[]",
        "starter_code": "",
        "input_output": '{"inputs": [',
        "difficulty": "EASY",
        "source": "x",
        "url": "",
    },
]


def test_taco_rows_from_a_parquet_file(tmp_path):
    path = write_parquet(tmp_path / "taco.parquet", TACO_ROWS)
    tasks, problems = load_source("taco", str(path), split="test")
    assert [t.task_id for t in tasks] == ["taco-test-0", "taco-test-1"]
    stdio, fn = tasks
    assert stdio.kind == "stdio" and stdio.difficulty == "EASY" and stdio.split == "test"
    assert stdio.source == "taco" and stdio.extra["site"] == "codeforces"
    assert stdio.gold_tests[1] == {"input": "3 4\n", "output": "7\n"}  # list of lines joined
    assert fn.kind == "functional" and fn.fn_name == "double"
    assert fn.gold_tests == [{"input": [1], "output": 2}, {"input": [5], "output": 10}]
    assert len(problems) == 1
    assert problems[0].location == f"{path}:row 3"
    assert "input_output" in problems[0].message and problems[0].is_error


def test_a_local_dataset_folder_goes_through_datasets_load_dataset(tmp_path):
    folder = tmp_path / "hub_snapshot"
    (folder / "data").mkdir(parents=True)
    write_parquet(folder / "data" / "test-00000-of-00001.parquet", TACO_ROWS[:2])
    tasks, problems = load_source("taco", str(folder), split="test")
    assert problems == []
    assert len(tasks) == 2
    assert tasks[0].extra["origin"].startswith(f"{folder}[test]:row 1")


# --- LeetCodeDataset ------------------------------------------------------------------------


@needs_data
def test_leetcode_real_file_converts_keyword_tests():
    tasks, problems = load_source("leetcode", str(LEETCODE))
    assert len(tasks) == 227
    assert [p.reason for p in problems] == ["unsupported_type"]  # the TreeNode task
    assert "TreeNode" in problems[0].message and ":67" in problems[0].location
    first = by_id(tasks)["leetcode-shortest-distance-after-road-addition-queries-i"]
    assert first.kind == "functional" and first.fn_name == "shortestDistanceAfterQueries"
    assert first.gold_tests[0] == {
        "input": {"n": 7, "queries": [[0, 5], [1, 6], [2, 4]]},
        "output": [2, 2, 2],
    }
    # the completion alone: the header's star imports (which shadow `pow`) are not prepended
    assert first.gold_solutions[0].lstrip().startswith("class Solution")
    assert "import *" not in first.gold_solutions[0]
    # a `-> str` method: outputs are raw strings, not reprs
    digits = by_id(tasks)["leetcode-find-valid-pair-of-adjacent-digits-in-string"]
    assert {"input": {"s": "221"}, "output": "21"} in digits.gold_tests
    assert {"input": {"s": "213123"}, "output": ""} in digits.gold_tests
    # error messages recorded as outputs are not tests
    hashed = by_id(tasks)["leetcode-hash-divided-string"]
    assert all(not str(t["output"]).startswith("Error") for t in hashed.gold_tests)
    assert hashed.extra["n_tests_skipped"] == 30


def test_leetcode_kwargs_are_parsed_without_evaluating_code(tmp_path):
    marker = tmp_path / "pwned"
    assert parse_kwargs("nums = [1,2], target = 3, s = 'a,b'") == {"nums": [1, 2], "target": 3, "s": "a,b"}
    assert parse_kwargs(f"x = __import__('pathlib').Path('{marker}').touch()") is None
    assert parse_kwargs("x = 10**9") is None  # arithmetic is code, not a literal
    assert parse_kwargs("[1, 2]") is None  # positional, not keyword arguments
    assert parse_kwargs("p = (1, 2)") == {"p": [1, 2]}
    assert not marker.exists()
    assert parse_case({"input": "a = 1", "output": "Execution timed out"}, raw_string_output=False) is None
    assert parse_case({"input": "a = 1", "output": "-inf"}, raw_string_output=False) is None
    assert parse_case({"input": "a = 1", "output": "True"}, raw_string_output=False) == {
        "input": {"a": 1},
        "output": True,
    }
    assert parse_case({"input": "a = 1", "output": "123"}, raw_string_output=True)["output"] == "123"


# --- LiveCodeBench ---------------------------------------------------------------------------


def compress(obj) -> str:
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(obj)))).decode()


def test_livecodebench_stdin_and_functional_with_compressed_private_tests(tmp_path):
    rows = [
        {
            "question_title": "A",
            "question_content": "Read n, print n+1.",
            "platform": "atcoder",
            "question_id": "abc001_a",
            "contest_id": "abc001",
            "contest_date": "2023-08-01T00:00:00",
            "starter_code": "",
            "difficulty": "easy",
            "public_test_cases": json.dumps([{"input": "1\n", "output": "2\n", "testtype": "stdin"}]),
            "private_test_cases": compress([{"input": "5\n", "output": "6\n", "testtype": "stdin"}]),
            "metadata": "{}",
        },
        {
            "question_title": "Two Sum",
            "question_content": "Return indices.",
            "platform": "leetcode",
            "question_id": "1",
            "contest_id": "w1",
            "contest_date": "2023-08-01T00:00:00",
            "starter_code": "class Solution:\n    def twoSum(self, nums, target):\n        ",
            "difficulty": "medium",
            "public_test_cases": json.dumps(
                [{"input": "[2,7,11,15]\n9", "output": "[0, 1]", "testtype": "functional"}]
            ),
            "private_test_cases": json.dumps([]),
            "metadata": json.dumps({"func_name": "twoSum"}),
        },
    ]
    tasks, problems = load_source("livecodebench", str(write_jsonl(tmp_path / "lcb.jsonl", rows)))
    assert problems == []
    stdin, fn = tasks
    assert stdin.kind == "stdio" and stdin.gold_tests == [
        {"input": "1\n", "output": "2\n"},
        {"input": "5\n", "output": "6\n"},
    ]
    assert fn.kind == "functional" and fn.fn_name == "twoSum"
    assert fn.gold_tests == [{"input": [[2, 7, 11, 15], 9], "output": [0, 1]}]
    assert stdin.gold_solutions == []  # LiveCodeBench ships no reference solutions


class _Touch:
    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_restricted_unpickler_refuses_globals_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    evil = pickle.dumps(_Touch(str(marker)))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        restricted_unpickle(evil)
    assert not marker.exists()
    encoded = base64.b64encode(zlib.compress(evil)).decode()
    with pytest.raises(ValueError, match="private_test_cases"):
        decode_test_cases(encoded, "private_test_cases")
    assert not marker.exists()
    assert restricted_unpickle(pickle.dumps({"a": [1, (2, 3)], "b": {4}})) == {"a": [1, (2, 3)], "b": {4}}


# --- CodeContests ------------------------------------------------------------------------------


def cc_row(**over) -> dict:
    row = {
        "name": "1548_A. Sum",
        "description": "Print a+b.",
        "public_tests": {"input": ["1 2\n"], "output": ["3\n"]},
        "private_tests": {"input": ["2 2\n", "1 2\n"], "output": ["4\n", "3\n"]},
        "generated_tests": {"input": ["0 0\n"], "output": ["0\n"]},
        "source": 2,
        "difficulty": 7,
        "solutions": {
            "language": [2, 3, 1, 3],
            "solution": ["int main(){}", "print(sum(map(int, input().split())))", "print 1", "a,b=1,2"],
        },
        "incorrect_solutions": {"language": [3, 2], "solution": ["print(0)", "int main(){}"]},
        "cf_rating": 800,
        "cf_tags": ["math"],
        "time_limit": {"seconds": 2, "nanos": 500000000},
        "memory_limit_bytes": 256000000,
        "input_file": "",
        "output_file": "",
    }
    row.update(over)
    return row


def test_codecontests_keeps_python3_only_and_merges_tests(tmp_path):
    path = write_parquet(tmp_path / "cc.parquet", [cc_row(), cc_row(name="2_B", input_file="input.txt")])
    tasks, problems = load_source("codecontests", str(path))
    (task,) = tasks
    assert task.task_id == "codecontests-1548_A. Sum" and task.kind == "stdio"
    assert task.gold_solutions == ["print(sum(map(int, input().split())))", "a,b=1,2"]
    assert task.buggy_code == ["print(0)"]
    assert [t["input"] for t in task.gold_tests] == ["1 2\n", "2 2\n", "0 0\n"]  # repeated input dropped
    assert task.extra["time_limit_s"] == 2.5
    assert [p.reason for p in problems] == ["unsupported_type"]


# --- UTRL eval sets and ATGEN parquet ------------------------------------------------------------


def test_utrl_eval_rows_become_tasks_with_candidates(tmp_path):
    rows = [
        {
            "problem_statement": "Print n squared.",
            "gt_test_cases": [{"input": "3\n", "output": "9\n"}, {"input": "4\n", "output": "16\n"}],
            "sampled_codes": {
                "qwen3_4b": ["Sure:\n```python\nn=int(input())\nprint(n*n)\n```", "print(1)"],
                "gpt_4o": ["```python\nprint(int(input())**2)\n```"],
            },
        }
    ]
    tasks, problems = load_source("utrl", str(write_parquet(tmp_path / "utrl.parquet", rows)))
    assert problems == []
    (task,) = tasks
    assert task.kind == "stdio" and len(task.gold_tests) == 2
    assert task.candidates["qwen3_4b"] == ["n=int(input())\nprint(n*n)\n", "print(1)"]
    assert task.candidates["gpt_4o"] == ["print(int(input())**2)\n"]
    assert task.gold_solutions == []


def test_atgen_parquet_with_question_buggy_and_gold_code(tmp_path):
    rows = [
        {
            "question": "Print a+b.",
            "buggy_code": "a,b=map(int,input().split())\nprint(a-b)",
            "gold_code": "a,b=map(int,input().split())\nprint(a+b)",
            "tests": json.dumps({"inputs": ["1 2\n"], "outputs": ["3\n"]}),
        },
        {"question": "No gold here.", "buggy_code": "print(1)", "tests": "[]"},
    ]
    tasks, problems = load_source("atgen", str(write_parquet(tmp_path / "atgen.parquet", rows)))
    (task,) = tasks
    assert task.buggy_code == ["a,b=map(int,input().split())\nprint(a-b)"]
    assert task.gold_solutions == ["a,b=map(int,input().split())\nprint(a+b)"]
    assert task.gold_tests == [{"input": "1 2\n", "output": "3\n"}]
    assert len(problems) == 1 and "gold_code" in problems[0].message and "row 2" in problems[0].location


# --- our own format and the sample ------------------------------------------------------------


def test_native_jsonl_and_parquet_round_trip(tmp_path):
    task = Task(
        task_id="t1",
        question="q",
        kind="functional",
        fn_name="f",
        gold_solutions=["def f(x):\n    return x\n"],
        gold_tests=[{"input": [1], "output": 1}, {"input": {"x": [2]}, "output": [2]}],
        candidates={"m": ["def f(x): return 0"]},
        extra={"mine": 1},
    )
    for name, source in (("tasks.jsonl", "jsonl"), ("tasks.parquet", "parquet")):
        write_tasks(tmp_path / name, [task])
        (back,), problems = load_source(source, str(tmp_path / name))
        assert problems == []
        assert back.gold_tests == task.gold_tests and back.candidates == task.candidates
        assert back.extra["mine"] == 1


def test_native_duplicate_ids_and_missing_fields_are_problems_with_locations(tmp_path):
    ok = {"task_id": "a", "question": "q", "kind": "stdio", "gold_tests": [{"input": "1", "output": "1"}]}
    path = write_jsonl(tmp_path / "t.jsonl", [ok, ok, {"task_id": "b", "kind": "stdio"}])
    tasks, problems = load_source("jsonl", str(path))
    assert [t.task_id for t in tasks] == ["a"]
    assert [p.location for p in problems] == [f"{path}:2", f"{path}:3"]
    assert "duplicate task_id" in problems[0].message
    assert "missing field 'question'" in problems[1].message


def test_bundled_sample_has_both_kinds_and_provenance():
    tasks, problems = load_source("sample", None)
    assert problems == []
    assert 30 <= len(tasks) <= 60
    kinds = {t.kind for t in tasks}
    assert kinds == {"stdio", "functional"}
    assert all(t.gold_solutions and t.gold_tests for t in tasks)
    assert all(t.extra.get("n_verified_gold", 0) >= 1 for t in tasks)
    assert {t.source for t in tasks} == {"apps", "leetcode"}


# --- bad input --------------------------------------------------------------------------------


def test_unknown_source_names_the_choices():
    with pytest.raises(InputError, match=r"unknown source 'nope'.*leetcode"):
        load_source("nope", "x.jsonl")


def test_missing_file_and_unsupported_extension(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_source("leetcode", str(tmp_path / "absent.jsonl"))
    with pytest.raises(InputError, match="no such file"):  # a relative typo is not taken for a hub id
        load_source("leetcode", "data/absent.jsonl.gz")
    (tmp_path / "data.csv").write_text("a,b\n")
    with pytest.raises(InputError, match="unsupported file type"):
        load_source("leetcode", str(tmp_path / "data.csv"))


def test_empty_dataset_and_unreadable_parquet(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(InputError, match="empty"):
        load_source("jsonl", str(tmp_path / "empty.jsonl"))
    (tmp_path / "fake.parquet").write_text("not parquet")
    with pytest.raises(InputError, match="not a readable parquet"):
        load_source("atgen", str(tmp_path / "fake.parquet"))


def test_wrong_format_reports_each_record_with_line_and_field(tmp_path):
    path = write_jsonl(tmp_path / "apps_like.jsonl", [{"question": "q", "solutions": "[]"}] * 2)
    tasks, problems = load_source("leetcode", str(path))
    assert tasks == []
    assert [str(p) for p in problems] == [
        f"{path}:1: missing field 'task_id'",
        f"{path}:2: missing field 'task_id'",
    ]


def test_every_source_is_registered():
    assert set(SOURCES) >= {
        "taco",
        "apps",
        "livecodebench",
        "codecontests",
        "leetcode",
        "utrl",
        "atgen",
        "jsonl",
        "parquet",
        "sample",
    }
