"""The unit test as a record, what makes a raw test usable, and what makes two tests the same.

Tests arrive as JSON objects (`{"input": ..., "output": ...}`) from task files, tests files and
parsed responses; they are checked and turned into `Test` records at those edges, and written
back as the same objects, so the formats on disk never change.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from atest.core.sandbox import input_key

# A generated test whose input is larger than this is invalid without being run: no model writes
# such an input honestly within its token budget, and feeding it to every program costs time.
MAX_INPUT_CHARS = 1_000_000


@dataclass(frozen=True)
class Test:
    """One unit test: what a program is given and what it must produce.

    stdio: both are text (stdin and the expected stdout); functional: the input is a list of
    positional arguments or a dict of keyword arguments, the output any JSON value.
    """

    __test__ = False  # not a pytest test class, whatever module imports it

    input: Any
    output: Any

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> Test:
        return cls(row["input"], row["output"])

    def to_dict(self) -> dict[str, Any]:
        return {"input": self.input, "output": self.output}


def as_tests(rows: Iterable[Mapping[str, Any]]) -> list[Test]:
    """Records for rows already known to be well formed (gold tests, parsed tests)."""
    return [Test.from_dict(row) for row in rows]


def well_formed(row: Any, kind: str) -> bool:
    """A raw test the sandbox can run for this kind of task."""
    if not isinstance(row, Mapping) or "input" not in row or "output" not in row:
        return False
    if kind == "stdio":
        return isinstance(row["input"], str) and isinstance(row["output"], str)
    return isinstance(row["input"], (list, dict))


def input_size(value: Any) -> int:
    return len(value) if isinstance(value, str) else len(json.dumps(value))


def runnable(row: Any, kind: str) -> bool:
    """A well-formed raw test whose input is below the size cap (what rewards run)."""
    return well_formed(row, kind) and input_size(row["input"]) <= MAX_INPUT_CHARS


By = Literal["input", "test"]
T = TypeVar("T", bound=Test | Mapping[str, Any])


def identity(test: Test | Mapping[str, Any], *, by: By) -> tuple[str, ...]:
    """What makes two tests the same: their input (`by="input"`), or input and output (`"test"`).

    Values compare as JSON (dict key order aside), so `1` and `"1"` or `1` and `1.0` differ.
    By input where one input can have only one right output (a response's tests, a task's
    gold tests, reward inputs: the first one stands); by test where tests are pooled
    as written (tests files, merged responses).
    """
    row = test.to_dict() if isinstance(test, Test) else test
    key = (input_key(row["input"]),)
    return key if by == "input" else (*key, input_key(row["output"]))


def distinct_tests(tests: Iterable[T], *, by: By) -> list[T]:
    """The first test of each identity, in order."""
    seen: set[tuple[str, ...]] = set()
    out: list[T] = []
    for test in tests:
        key = identity(test, by=by)
        if key not in seen:
            seen.add(key)
            out.append(test)
    return out
