"""LiveCodeBench code generation: stdin (Codeforces/AtCoder) and functional (LeetCode) tasks.

`public_test_cases` is JSON text; `private_test_cases` is JSON text or, in the released files,
base64(zlib(pickle(JSON text))). Pickle can run arbitrary code on load, so it is decoded with an
Unpickler that refuses every global except plain builtin container and scalar types. Functional
tests hold one JSON value per line of `input` (the positional arguments) and the JSON return
value in `output`; the method name is `func_name` in the JSON `metadata`. The dataset ships no
reference solutions, so these tasks only survive `prepare --verify` when gold code is added.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import pickle
import zlib
from typing import Any

from atest.core.loaders._common import (
    NO_TESTS,
    LoadProblem,
    RecordError,
    Row,
    convert_rows,
    is_json_value,
    iter_rows,
    json_field,
    require,
)
from atest.core.tasks import Task

_SAFE_GLOBALS = frozenset(
    {"list", "dict", "tuple", "set", "frozenset", "str", "bytes", "int", "float", "bool"}
)


class _RestrictedUnpickler(pickle.Unpickler):
    """Only builtin containers and scalars; any other global (os.system, eval, ...) is refused."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "builtins" and name in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def restricted_unpickle(data: bytes) -> Any:
    return _RestrictedUnpickler(io.BytesIO(data)).load()


def decode_test_cases(value: Any, field: str) -> list:
    """A test-case field as a list: plain JSON text, or base64+zlib+pickle-compressed JSON text."""
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    if not isinstance(value, str):
        raise RecordError(f"field '{field}' must be JSON text")
    text = value.lstrip()
    if text.startswith("["):
        decoded: Any = json_field({field: value}, field)
    else:
        try:
            inner = restricted_unpickle(zlib.decompress(base64.b64decode(value, validate=False)))
        except (binascii.Error, zlib.error, pickle.UnpicklingError, EOFError, ValueError) as exc:
            raise RecordError(f"field '{field}' is neither JSON nor base64/zlib/pickle data ({exc})") from exc
        decoded = json_field({field: inner}, field) if isinstance(inner, str) else inner
    if not isinstance(decoded, list):
        raise RecordError(f"field '{field}' must decode to a list of test cases")
    return decoded


def load(
    source: str, path_or_id: str, split: str | None, limit: int | None
) -> tuple[list[Task], list[LoadProblem]]:
    return convert_rows(
        iter_rows(path_or_id, split), lambda row, loc, i: convert(source, row, loc, i, split), limit
    )


def convert(source: str, row: Row, loc: str, index: int, split: str | None) -> Task:
    question = require(row, "question_content")
    cases = decode_test_cases(row.get("public_test_cases"), "public_test_cases")
    cases += decode_test_cases(row.get("private_test_cases"), "private_test_cases")
    if not cases:
        raise RecordError("no tests in 'public_test_cases' or 'private_test_cases'", NO_TESTS)
    types = {c.get("testtype") if isinstance(c, dict) else None for c in cases}
    if types == {"functional"}:
        meta = json_field(row, "metadata", {}) or {}
        fn_name = meta.get("func_name") if isinstance(meta, dict) else None
        if not fn_name:
            raise RecordError("functional task without 'func_name' in field 'metadata'")
        kind, tests = "functional", [_functional(c) for c in cases]
    elif types == {"stdin"}:
        fn_name = None
        kind, tests = "stdio", [_stdio(c) for c in cases]
    else:
        raise RecordError(
            f"test cases need one 'testtype' of stdin/functional, got {sorted(map(str, types))}"
        )
    ident = row.get("question_id") or index
    extra: dict[str, Any] = {"origin": loc}
    for key in ("question_title", "platform", "contest_id", "contest_date"):
        if row.get(key) is not None:
            extra[key] = str(row[key])
    return Task(
        task_id=f"{source}-{ident}",
        question=question,
        kind=kind,
        fn_name=fn_name,
        starter_code=row.get("starter_code") or None,
        gold_solutions=[],
        gold_tests=tests,
        difficulty=str(row["difficulty"]).lower() if row.get("difficulty") else None,
        source=source,
        split=split,
        extra=extra,
    )


def _stdio(case: dict) -> dict[str, str]:
    if not isinstance(case.get("input"), str) or not isinstance(case.get("output"), str):
        raise RecordError("stdin test cases need string 'input' and 'output'")
    return {"input": case["input"], "output": case["output"]}


def _functional(case: dict) -> dict[str, Any]:
    """Each non-empty line of `input` is one positional argument, as JSON."""
    try:
        args = [json.loads(line) for line in str(case.get("input", "")).splitlines() if line.strip()]
        output = json.loads(str(case.get("output", "")))
    except json.JSONDecodeError as exc:
        raise RecordError(f"functional test case is not JSON ({exc.msg})") from exc
    if not is_json_value(args) or not is_json_value(output):
        raise RecordError("functional test case holds a value JSON cannot carry")
    return {"input": args, "output": output}
