"""Reading a tests file (written by `atest gen-tests`) and joining it to a task file.

One JSON line per task, `{"task_id": ..., "tests": [{"input": ..., "output": ...}], ...}`;
with the ATGEN prompt, one line per (task, buggy code) carrying `buggy_index` and
`buggy_code`. Lines of the same task are merged for best-of-N and fidelity.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atest.core.checking import Test, as_tests, distinct_tests, well_formed
from atest.core.errors import InputError
from atest.core.io import read_text_lines
from atest.core.tasks import Task

GROUND_TRUTH = "ground_truth"


@dataclass
class TestsRow:
    location: str
    task_id: str
    tests: list[Any]
    buggy_index: int | None = None
    buggy_code: str | None = None
    responses: list[str] | None = None  # the raw responses the tests were parsed from, when kept


def read_tests_file(path: str | Path, ground_truth_allowed: bool = True) -> list[TestsRow]:
    """Read every row; a line that is not a usable record is fatal, naming its location."""
    p = Path(path)
    hint = "write one with `atest gen-tests`" + (
        ", or pass `--tests ground_truth`" if ground_truth_allowed else " (--prompt atgen)"
    )
    rows: list[TestsRow] = []
    for lineno, line in read_text_lines(p, "tests file", hint):
        if line.strip():
            rows.append(_row(f"{p}:{lineno}", line))
    if not rows:
        raise InputError(f"{p}: empty tests file", "generate tests with `atest gen-tests` first")
    return rows


def _row(loc: str, line: str) -> TestsRow:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"{loc}: not valid JSON ({exc.msg})") from exc
    if not isinstance(obj, dict):
        raise InputError(f"{loc}: expected a JSON object with 'task_id' and 'tests'")
    task_id = obj.get("task_id")
    if not isinstance(task_id, str) or not task_id:
        raise InputError(f"{loc}: field 'task_id' must be a non-empty string")
    tests = obj.get("tests")
    if tests is None:
        tests = []
    if not isinstance(tests, list):
        raise InputError(f"{loc}: field 'tests' must be a list of {{'input', 'output'}} objects")
    buggy_index = obj.get("buggy_index")
    if buggy_index is not None and (
        not isinstance(buggy_index, int) or isinstance(buggy_index, bool) or buggy_index < 0
    ):
        raise InputError(f"{loc}: field 'buggy_index' must be a non-negative integer")
    buggy_code = obj.get("buggy_code")
    if buggy_code is not None and not isinstance(buggy_code, str):
        raise InputError(f"{loc}: field 'buggy_code' must be a string")
    responses = obj.get("responses")
    if responses is not None and not (
        isinstance(responses, list) and all(isinstance(r, str) for r in responses)
    ):
        raise InputError(f"{loc}: field 'responses' must be a list of strings")
    return TestsRow(loc, task_id, tests, buggy_index, buggy_code, responses)


@dataclass
class JoinedTests:
    """Tests per task, with everything that was dropped or missing counted for the report."""

    tests: dict[str, list[Test]]
    n_rows: int
    n_malformed: int = 0
    n_duplicates: int = 0
    uncovered: list[str] = field(default_factory=list)  # tasks with no row in the tests file


def check_known(rows: Sequence[TestsRow], tasks: dict[str, Task], tests_path: str | Path) -> None:
    unknown = [r for r in rows if r.task_id not in tasks]
    if unknown:
        raise InputError(
            f"{unknown[0].location}: task_id {unknown[0].task_id!r} is not in the tasks file "
            f"({len(unknown)} of {len(rows)} rows name unknown tasks)",
            f"was {tests_path} generated from this --tasks file?",
        )


def join_tests(rows: Sequence[TestsRow], tasks: Sequence[Task], tests_path: str | Path) -> JoinedTests:
    """Merge rows per task, drop malformed entries and exact duplicates, and count both."""
    by_id = {t.task_id: t for t in tasks}
    check_known(rows, by_id, tests_path)
    merged: dict[str, list[Test]] = {}
    joined = JoinedTests(tests=merged, n_rows=len(rows))
    for row in rows:
        task = by_id[row.task_id]
        good = as_tests(t for t in row.tests if well_formed(t, task.kind))
        joined.n_malformed += len(row.tests) - len(good)
        merged.setdefault(row.task_id, []).extend(good)
    for task_id, tests in merged.items():
        unique = distinct_tests(tests, by="test")
        joined.n_duplicates += len(tests) - len(unique)
        merged[task_id] = unique
    joined.uncovered = [t.task_id for t in tasks if t.task_id not in merged]
    if len(joined.uncovered) == len(tasks):
        raise InputError(f"{tests_path}: covers none of the tasks")
    return joined


def ground_truth_tests(tasks: Sequence[Task]) -> JoinedTests:
    """The tasks' own gold tests, used as if generated: gives the oracle upper bound."""
    tests = {t.task_id: as_tests(t.gold_tests) for t in tasks if t.gold_tests}
    if not tests:
        raise InputError("no task has gold tests", "`--tests ground_truth` needs gold tests")
    return JoinedTests(tests=tests, n_rows=0, uncovered=[t.task_id for t in tasks if not t.gold_tests])
