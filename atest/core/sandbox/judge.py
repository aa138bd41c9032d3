"""Output comparison and verdicts, done in the supervisor (never where the program runs).

The rules, each with a test in tests/test_judge.py:

* stdio: outputs are compared token by token after splitting on whitespace, so spacing
  between tokens, trailing spaces and the final newline do not matter, but line content and
  case do. Two plain integer tokens match only when they are the same text: `007`, `+5` and
  `-0` are not `7`, `5` and `0` (a task that asks for three digits means it). Two tokens
  that differ as text still match when both are decimal numbers, at least one is a float
  (has a point or an exponent: `1.0`, `1e3`, `.5`, `5.`), and their values are within the
  tolerance (absolute or relative, default 1e-6), as a competitive-programming float checker
  reads them: `1.0` matches `1`, `1e3` matches `1000`. `nan`, `inf` and other words are text
  (testlib's checkers do not read them as numbers either); a float token too large for a
  double only matches one that overflows the same way.
* functional: return values are compared as JSON values: lists and tuples alike, dict keys
  exactly, bool only equal to bool, numbers equal when equal as integers or, if either is a
  float, within the tolerance.

Never case-insensitive, never an unordered bag of tokens (two defects of other judges; the
rules are listed in docs/sandbox.md, "Verdict rules").
"""

from __future__ import annotations

import math
import re
from typing import Any

from atest.core.sandbox.types import Execution, Limits, Status, Verdict

DEFAULT_TOLERANCE = 1e-6
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")

_STATUS_VERDICT = {
    Status.RUNTIME_ERROR: Verdict.RUNTIME_ERROR,
    Status.TIME_LIMIT: Verdict.TIME_LIMIT,
    Status.MEMORY_LIMIT: Verdict.MEMORY_LIMIT,
    Status.OUTPUT_LIMIT: Verdict.OUTPUT_LIMIT,
}


def _close(a: float, b: float, tolerance: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=tolerance, abs_tol=tolerance)


def tokens_match(expected: str, actual: str, tolerance: float = DEFAULT_TOLERANCE) -> bool:
    if expected == actual:
        return True
    if not (_NUMBER.fullmatch(expected) and _NUMBER.fullmatch(actual)):
        return False
    if _INTEGER.fullmatch(expected) and _INTEGER.fullmatch(actual):
        return False  # integers are exact text, and these differ
    return _close(float(expected), float(actual), tolerance)


def stdio_match(expected: str, actual: str, tolerance: float = DEFAULT_TOLERANCE) -> bool:
    want, got = expected.split(), actual.split()
    return len(want) == len(got) and all(
        tokens_match(w, g, tolerance) for w, g in zip(want, got, strict=True)
    )


def json_match(expected: Any, actual: Any, tolerance: float = DEFAULT_TOLERANCE) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        if isinstance(expected, int) and isinstance(actual, int):
            return expected == actual
        return _close(float(expected), float(actual), tolerance)
    if isinstance(expected, (list, tuple)) and isinstance(actual, (list, tuple)):
        return len(expected) == len(actual) and all(
            json_match(e, a, tolerance) for e, a in zip(expected, actual, strict=True)
        )
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(
            json_match(expected[k], actual[k], tolerance) for k in expected
        )
    return type(expected) is type(actual) and expected == actual


def outputs_match(kind: str, expected: Any, actual: Any, tolerance: float = DEFAULT_TOLERANCE) -> bool:
    """Whether a program's output (stdout text or decoded return value) equals the expected one."""
    if kind == "stdio":
        if not isinstance(expected, str) or not isinstance(actual, str):
            return False
        return stdio_match(expected, actual, tolerance)
    return json_match(expected, actual, tolerance)


def judge(execution: Execution, expected: Any, kind: str, tolerance: float = DEFAULT_TOLERANCE) -> Verdict:
    if execution.status is not Status.OK:
        return _STATUS_VERDICT[execution.status]
    if outputs_match(kind, expected, execution.output, tolerance):
        return Verdict.ACCEPTED
    return Verdict.WRONG_ANSWER


def limits_from_gold(
    gold_cpu_seconds: float, *, base: Limits | None = None, factor: float = 4.0, floor: float = 1.0
) -> Limits:
    """A CPU limit scaled from the gold solution's own time, so machine load cannot flip verdicts."""
    base = base or Limits()
    cpu = max(floor, factor * gold_cpu_seconds)
    return Limits(cpu_seconds=cpu, memory_mb=base.memory_mb, output_bytes=base.output_bytes)
