"""LeetCodeDataset (newfacade): functional `class Solution` tasks with keyword-argument tests.

Each test is `{"input": "nums = [2,7], target = 9", "output": "[0, 1]"}`. The input text is
parsed as the keyword arguments of a call with `ast` and each value read with
`ast.literal_eval`, so no dataset text is ever evaluated as code. Outputs are Python reprs,
except for functions annotated `-> str`, whose outputs are the raw string. Tests whose recorded
output is an error message or a timeout, or whose values are not plain JSON (inf, sets), are
skipped and counted in `extra["n_tests_skipped"]`.

The reference `completion` was written against the dataset's own `prompt` header (star
imports from typing/collections/math/..., and ListNode/TreeNode helpers). The sandbox's
prelude provides every name those imports bring in, without the header's defect (`from math
import *` and `from operator import *` shadow the builtin `pow`, which breaks `pow(a, b, m)`:
`judge.header` in docs/rewards.md), so the gold solution we store is the completion alone: short in
prompts, and the form model-written solutions take. Only a completion that uses one of the
header's helpers (ListNode, tree_node, ...) gets the header, minus its star imports. Tasks whose signature takes or returns `TreeNode`/`ListNode`
are skipped with reason `unsupported_type`: their tests are level-order lists that would need
conversion inside the program under test, which our JSON call protocol does not do.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from atest.core.loaders._common import (
    NO_TESTS,
    UNSUPPORTED_TYPE,
    LoadProblem,
    RecordError,
    Row,
    convert_rows,
    is_json_value,
    iter_rows,
    require,
)
from atest.core.tasks import Task

_NODE_TYPES = re.compile(r"\b(TreeNode|ListNode|Node)\b")
_SKIP_OUTPUT = re.compile(r"^(Error:|Execution timed out)")


def load(
    source: str, path_or_id: str, split: str | None, limit: int | None
) -> tuple[list[Task], list[LoadProblem]]:
    return convert_rows(
        iter_rows(path_or_id, split), lambda row, loc, _i: convert(source, row, loc, split), limit
    )


def convert(source: str, row: Row, loc: str, split: str | None) -> Task:
    slug = require(row, "task_id")
    question = require(row, "problem_description")
    starter = require(row, "starter_code")
    completion = require(row, "completion")
    io = require(row, "input_output")
    if not isinstance(io, list):
        raise RecordError("field 'input_output' must be a list of {input, output}")
    fn_name, arg_types, returns = _signature(starter, row.get("entry_point"))
    if any(_NODE_TYPES.search(t) for t in [*arg_types, returns]):
        raise RecordError(
            f"{fn_name} takes or returns a TreeNode/ListNode, which functional tests cannot pass",
            UNSUPPORTED_TYPE,
        )
    tests = []
    for case in io:
        test = parse_case(case, raw_string_output=returns == "str")
        if test is not None:
            tests.append(test)
    if not tests:
        raise RecordError("no usable test in field 'input_output'", NO_TESTS)
    gold = completion
    if _HEADER_HELPERS.search(completion):
        prelude = _STAR_IMPORT.sub("", row.get("prompt") or "")
        gold = f"{prelude.rstrip()}\n\n{completion}" if prelude.strip() else completion
    extra: dict[str, Any] = {"origin": loc}
    for key in ("question_id", "tags", "estimated_date"):
        if row.get(key) is not None:
            extra[key] = row[key]
    if len(io) > len(tests):
        extra["n_tests_skipped"] = len(io) - len(tests)
    difficulty = row.get("difficulty")
    return Task(
        task_id=f"{source}-{slug}",
        question=question,
        kind="functional",
        fn_name=fn_name,
        starter_code=starter,
        gold_solutions=[gold],
        gold_tests=tests,
        difficulty=str(difficulty).lower() if difficulty else None,
        source=source,
        split=split,
        extra=extra,
    )


def _signature(starter: str, entry_point: Any) -> tuple[str, list[str], str]:
    """(method name, argument annotations, return annotation) of the starter code's method."""
    wanted = entry_point.rsplit(".", 1)[-1] if isinstance(entry_point, str) and entry_point else None
    try:
        tree = ast.parse(starter.rstrip() + "\n        pass\n")
    except SyntaxError as exc:
        raise RecordError(f"field 'starter_code' does not parse (line {exc.lineno}: {exc.msg})") from exc
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and (wanted is None or node.name == wanted):
            args = [ast.unparse(a.annotation) for a in node.args.args if a.annotation is not None]
            returns = ast.unparse(node.returns) if node.returns is not None else ""
            return node.name, args, returns
    raise RecordError(f"field 'starter_code' defines no method {wanted or ''}".rstrip())


_HEADER_HELPERS = re.compile(r"\b(ListNode|TreeNode|list_node|tree_node|is_same_list|is_same_tree)\b")
_STAR_IMPORT = re.compile(r"^from[ \t]+[\w.]+[ \t]+import[ \t]+\*[ \t]*\n?", re.MULTILINE)


def parse_case(case: Any, raw_string_output: bool) -> dict[str, Any] | None:
    """One `{"input": "a = 1, b = [2]", "output": "3"}` as a functional test, or None to skip it."""
    if (
        not isinstance(case, dict)
        or not isinstance(case.get("input"), str)
        or not isinstance(case.get("output"), str)
    ):
        raise RecordError("field 'input_output' entries need string 'input' and 'output'")
    out_text = case["output"]
    if _SKIP_OUTPUT.match(out_text):
        return None
    kwargs = parse_kwargs(case["input"])
    if kwargs is None:
        return None
    if raw_string_output:
        output: Any = out_text
    else:
        try:
            output = _lists(ast.literal_eval(out_text))
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return None
    if not is_json_value(output):
        return None
    return {"input": kwargs, "output": output}


def parse_kwargs(text: str) -> dict[str, Any] | None:
    """`a = 1, b = [2]` as {"a": 1, "b": [2]} without evaluating code; None unless every piece is a literal."""
    try:
        call = ast.parse(f"f({text})", mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if not isinstance(call, ast.Call) or call.args or not call.keywords:
        return None
    kwargs: dict[str, Any] = {}
    for kw in call.keywords:
        if kw.arg is None:
            return None
        try:
            value = _lists(ast.literal_eval(kw.value))
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return None
        if not is_json_value(value):
            return None
        kwargs[kw.arg] = value
    return kwargs


def _lists(value: Any) -> Any:
    """Tuples become lists, as they do when a program's return value is sent back as JSON."""
    if isinstance(value, (list, tuple)):
        return [_lists(v) for v in value]
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    return value
