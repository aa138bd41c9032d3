"""DeepMind CodeContests: stdio tasks with public, private and generated tests.

Tests come as `{input: [...], output: [...]}` column pairs and solutions as
`{language: [...], solution: [...]}`; only Python 3 solutions are kept (language 3, or the
name `PYTHON3` in exports that store the enum by name). Python 3 `incorrect_solutions` become
`buggy_code`, the initial buggy programs ATGEN trains against. Problems that read or write
named files instead of stdin/stdout are skipped as `unsupported_type`.
"""

from __future__ import annotations

from typing import Any

from atest.core.loaders._common import (
    NO_TESTS,
    UNSUPPORTED_TYPE,
    LoadProblem,
    RecordError,
    Row,
    convert_rows,
    iter_rows,
    require,
)
from atest.core.tasks import Task

_PYTHON3 = (3, "3", "PYTHON3", "python3")
_TEST_FIELDS = ("public_tests", "private_tests", "generated_tests")


def load(
    source: str, path_or_id: str, split: str | None, limit: int | None
) -> tuple[list[Task], list[LoadProblem]]:
    return convert_rows(
        iter_rows(path_or_id, split), lambda row, loc, i: convert(source, row, loc, i, split), limit
    )


def convert(source: str, row: Row, loc: str, index: int, split: str | None) -> Task:
    question = require(row, "description")
    if (row.get("input_file") or "").strip() or (row.get("output_file") or "").strip():
        raise RecordError("reads or writes named files, not stdin/stdout", UNSUPPORTED_TYPE)
    tests: list[dict[str, str]] = []
    seen: set[str] = set()
    for name in _TEST_FIELDS:
        for test in _pairs(row.get(name), name):
            if test["input"] not in seen:
                seen.add(test["input"])
                tests.append(test)
    if not tests:
        raise RecordError(f"no tests in {', '.join(_TEST_FIELDS)}", NO_TESTS)
    extra: dict[str, Any] = {"origin": loc}
    for key in ("cf_rating", "cf_tags", "cf_contest_id", "cf_index"):
        if row.get(key) not in (None, "", 0, []):
            extra[key] = row[key]
    time_limit = row.get("time_limit")
    if isinstance(time_limit, dict) and time_limit.get("seconds") is not None:
        extra["time_limit_s"] = time_limit["seconds"] + (time_limit.get("nanos") or 0) / 1e9
    return Task(
        task_id=f"{source}-{row.get('name') or index}",
        question=question,
        kind="stdio",
        gold_solutions=_python3(row.get("solutions"), "solutions"),
        gold_tests=tests,
        buggy_code=_python3(row.get("incorrect_solutions"), "incorrect_solutions"),
        difficulty=str(row["difficulty"]) if row.get("difficulty") is not None else None,
        source=source,
        split=split,
        extra=extra,
    )


def _pairs(value: Any, name: str) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, dict):
        raise RecordError(f"field '{name}' must be an object with 'input' and 'output' lists")
    inputs, outputs = value.get("input") or [], value.get("output") or []
    if len(inputs) != len(outputs):
        raise RecordError(f"field '{name}': {len(inputs)} inputs but {len(outputs)} outputs")
    if not all(isinstance(x, str) for x in [*inputs, *outputs]):
        raise RecordError(f"field '{name}': inputs and outputs must be strings")
    return [{"input": i, "output": o} for i, o in zip(inputs, outputs, strict=True)]


def _python3(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, dict):
        raise RecordError(f"field '{name}' must be an object with 'language' and 'solution' lists")
    langs, codes = value.get("language") or [], value.get("solution") or []
    if len(langs) != len(codes):
        raise RecordError(f"field '{name}': {len(langs)} languages but {len(codes)} solutions")
    return [
        code
        for lang, code in zip(langs, codes, strict=True)
        if lang in _PYTHON3 and isinstance(code, str) and code.strip()
    ]
