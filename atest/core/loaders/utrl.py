"""UTRL's evaluation sets (UTRL_TACO_EVAL, LiveCodeBench_V2_UTRL_eval): stdio tasks with candidates.

Rows hold `problem_statement`, `gt_test_cases` (a list of `{input, output}` strings; JSON text
or base64/zlib/pickle-compressed in some exports) and `sampled_codes`, a map from the code
model's name to its sampled responses. Responses become candidates after taking the last fenced
python block, as UTRL's evaluation does. The sets carry no reference solution, so a `gold_*`
field is used when an export adds one; otherwise `prepare --verify` drops the task.
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
    extract_code,
    iter_rows,
    json_field,
    require,
    str_list,
)
from atest.core.loaders.livecodebench import decode_test_cases
from atest.core.tasks import Task

_GOLD_FIELDS = ("gold_solutions", "gt_solutions", "gt_solution", "solutions", "solution")


def load(
    source: str, path_or_id: str, split: str | None, limit: int | None
) -> tuple[list[Task], list[LoadProblem]]:
    return convert_rows(
        iter_rows(path_or_id, split), lambda row, loc, i: convert(source, row, loc, i, split), limit
    )


def convert(source: str, row: Row, loc: str, index: int, split: str | None) -> Task:
    question = require(row, "problem_statement")
    cases = decode_test_cases(require(row, "gt_test_cases"), "gt_test_cases")
    tests = []
    for n, case in enumerate(cases):
        if not isinstance(case, dict) or not isinstance(case.get("input"), str):
            raise RecordError(f"field 'gt_test_cases[{n}]' needs a string 'input'")
        tests.append({"input": case["input"], "output": str(case.get("output", ""))})
    if not tests:
        raise RecordError("field 'gt_test_cases' is empty", NO_TESTS)
    sampled = json_field(row, "sampled_codes", {}) or {}
    if not isinstance(sampled, dict):
        raise RecordError("field 'sampled_codes' must map model names to lists of code")
    candidates = {
        str(model): [extract_code(c) for c in str_list(codes, f"sampled_codes.{model}")]
        for model, codes in sampled.items()
        if codes is not None
    }
    gold: list[str] = []
    for name in _GOLD_FIELDS:
        if row.get(name) is not None:
            gold = code_list(row, name)
            break
    ident = next((row[k] for k in ("task_id", "problem_id", "id") if row.get(k) is not None), index)
    extra: dict[str, Any] = {"origin": loc}
    return Task(
        task_id=f"{source}-{ident}",
        question=question,
        kind="stdio",
        gold_solutions=gold,
        gold_tests=tests,
        candidates=candidates,
        difficulty=str(row["difficulty"]) if row.get("difficulty") is not None else None,
        source=source,
        split=split,
        extra=extra,
    )
