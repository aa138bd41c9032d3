"""Tests taken from the examples in a problem statement: the no-model baseline.

A test generator is only worth training if it beats the tests a human already wrote into
the statement. Statements come in two shapes we read:

* stdio (Codeforces/AtCoder/APPS): `Input` / `Sample Input 1` blocks followed by
  `Output` / `Sample Output 1` blocks;
* functional (LeetCode/APPS call-based): `Input: a = [1,2], k = 3` then `Output: 4`,
  arguments read with `ast.literal_eval` only, never evaluated as code.

An example that cannot be read is skipped, not guessed.
"""

from __future__ import annotations

import ast
import itertools
import json
import re
from typing import Any

from atest.core.checking import distinct_tests
from atest.core.loaders.leetcode import parse_kwargs
from atest.core.tasks import Task

EXAMPLES_SOURCE = "statement-examples"
_NOT_READ = object()

# "Input", "Sample Input 1", "Example Output:"; not "-----Input-----", which opens the format description.
_HEADER = re.compile(
    r"^[ \t]*(?:sample[ \t]+|example[ \t]+)?(input|output)(?:[ \t]+\d+)?[ \t]*:?[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
_STOP = re.compile(
    r"^[ \t]*(?:-{3,}.*|note\b.*|explanation\b.*|constraints?\b.*|example\b.*|sample\b.*)$",
    re.IGNORECASE | re.MULTILINE,
)
_CALL_INPUT = re.compile(r"^[ \t]*\**input\**[ \t]*:[ \t]*(.+?)[ \t]*$", re.IGNORECASE | re.MULTILINE)
_CALL_OUTPUT = re.compile(r"^[ \t]*\**output\**[ \t]*:[ \t]*(.+?)[ \t]*$", re.IGNORECASE | re.MULTILINE)


def example_tests(task: Task) -> list[dict[str, Any]]:
    """The statement's examples as tests in the task format (deduplicated, in order)."""
    found = _stdio_examples(task.question) if task.kind == "stdio" else _functional_examples(task)
    return distinct_tests(found, by="input")


def _block(text: str, start: int, *, to_blank_line: bool = False) -> str:
    """Text from `start` to the next header or section break, as a stdio payload.

    Outputs also end at their first blank line, where statements resume their prose.
    """
    end = len(text)
    if to_blank_line:
        blank = re.compile(r"\n[ \t]*\n").search(text, start)
        if blank:
            end = blank.start() + 1
    for pattern in (_HEADER, _STOP):
        match = pattern.search(text, start)
        if match:
            end = min(end, match.start())
    lines = text[start:end].strip("\n").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(line.rstrip() for line in lines) + "\n" if lines else ""


def _stdio_examples(question: str) -> list[dict[str, Any]]:
    headers = list(_HEADER.finditer(question))
    tests = []
    for current, following in itertools.pairwise(headers):
        if current.group(1).lower() != "input" or following.group(1).lower() != "output":
            continue
        stdin = _block(question, current.end() + 1)
        stdout = _block(question, following.end() + 1, to_blank_line=True)
        if stdin.strip() and stdout.strip():
            tests.append({"input": stdin, "output": stdout})
    return tests


def _literal(text: str) -> Any:
    text = text.strip().rstrip(".")
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _NOT_READ
    return json.loads(json.dumps(value)) if _is_json(value) else _NOT_READ


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def _functional_examples(task: Task) -> list[dict[str, Any]]:
    inputs = list(_CALL_INPUT.finditer(task.question))
    outputs = list(_CALL_OUTPUT.finditer(task.question))
    tests = []
    for match in inputs:
        after = [o for o in outputs if o.start() > match.end()]
        if not after:
            continue
        args = parse_kwargs(match.group(1))
        if args is None:
            value = _literal(match.group(1))
            if value is _NOT_READ:
                continue
            args = value if isinstance(value, list) else [value]
        output = _literal(after[0].group(1))
        if output is not _NOT_READ:
            tests.append({"input": args, "output": output})
    return tests
