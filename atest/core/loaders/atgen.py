"""ATGEN's processed parquet: `question`, `buggy_code`, `gold_code`, and the gold tests.

ATGEN's README names the first three fields; the tests sit beside them in APPS form
(`{"inputs": [...], "outputs": [...], "fn_name"?}`, possibly JSON text) or as a list of
`{input, output}` pairs, under `tests`, `input_output`, `gold_tests` or `test_cases`.
"""

from __future__ import annotations

from typing import Any

from atest.core.loaders._common import (
    NO_TESTS,
    LoadProblem,
    RecordError,
    Row,
    code_list,
    convert_rows,
    iter_rows,
    json_field,
    require,
)
from atest.core.loaders.apps import build_task
from atest.core.tasks import Task

_TEST_FIELDS = ("tests", "input_output", "gold_tests", "test_cases")


def load(
    source: str, path_or_id: str, split: str | None, limit: int | None
) -> tuple[list[Task], list[LoadProblem]]:
    return convert_rows(
        iter_rows(path_or_id, split), lambda row, loc, i: convert(source, row, loc, i, split), limit
    )


def convert(source: str, row: Row, loc: str, index: int, split: str | None) -> Task:
    question = require(row, "question")
    require(row, "gold_code")
    gold = code_list(row, "gold_code")
    buggy = code_list(row, "buggy_code")
    field = next((name for name in _TEST_FIELDS if row.get(name) not in (None, "")), None)
    if field is None:
        raise RecordError(f"no tests: none of the fields {', '.join(_TEST_FIELDS)} is present", NO_TESTS)
    io = json_field(row, field)
    if isinstance(io, list):
        io = _pairs_to_columns(io, field)
    if isinstance(io, dict) and row.get("fn_name") and not io.get("fn_name"):
        io = {**io, "fn_name": row["fn_name"]}
    ident = next((row[k] for k in ("task_id", "problem_id", "id") if row.get(k) is not None), index)
    task = build_task(
        source=source,
        task_id=f"{source}-{ident}",
        question=question,
        solutions=gold,
        io=io,
        starter_code=row.get("starter_code"),
        difficulty=row.get("difficulty"),
        split=split,
        extra={"origin": loc},
    )
    task.buggy_code = buggy
    return task


def _pairs_to_columns(pairs: list, field: str) -> dict[str, Any]:
    for n, pair in enumerate(pairs):
        if not isinstance(pair, dict) or "input" not in pair or "output" not in pair:
            raise RecordError(f"field '{field}[{n}]' must be an object with 'input' and 'output'")
    return {"inputs": [p["input"] for p in pairs], "outputs": [p["output"] for p in pairs]}
