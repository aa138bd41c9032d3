"""The executor contract: what callers hand the sandbox and what they get back.

Rewards, metrics, mutants and `prepare --verify` all speak only these types, so the
isolation machinery behind them can change without touching its callers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from atest.core.tasks import Kind


class Status(str, Enum):
    """How one execution ended, before any output comparison."""

    OK = "ok"
    RUNTIME_ERROR = "runtime_error"
    TIME_LIMIT = "time_limit"
    MEMORY_LIMIT = "memory_limit"
    OUTPUT_LIMIT = "output_limit"


class Verdict(str, Enum):
    """A program's result on one test, after comparing with the expected output."""

    ACCEPTED = "accepted"
    WRONG_ANSWER = "wrong_answer"
    RUNTIME_ERROR = "runtime_error"
    TIME_LIMIT = "time_limit"
    MEMORY_LIMIT = "memory_limit"
    OUTPUT_LIMIT = "output_limit"
    INVALID = "invalid"  # the reference itself failed on this input


@dataclass(frozen=True)
class Program:
    source: str
    kind: Kind
    fn_name: str | None = None

    @property
    def key(self) -> str:
        h = hashlib.sha256()
        for part in (self.kind, self.fn_name or "", self.source):
            h.update(part.encode("utf-8", "surrogatepass"))
            h.update(b"\0")
        return h.hexdigest()


@dataclass(frozen=True)
class Limits:
    """Per-execution limits. CPU time is the time limit; wall time is only a watchdog."""

    cpu_seconds: float = 2.0
    memory_mb: int = 1024
    output_bytes: int = 4_000_000
    wall_seconds: float | None = None  # default: 2 * cpu_seconds + 1

    @property
    def wall_limit(self) -> float:
        return self.wall_seconds if self.wall_seconds is not None else 2 * self.cpu_seconds + 1


def input_key(value: Any) -> str:
    """A stable hash of a test input (a stdin string or a JSON argument list/object)."""
    text = value if isinstance(value, str) else "\0json:" + json.dumps(value, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Job:
    program: Program
    input: Any  # stdio: str; functional: list of positional args or dict of keyword args
    limits: Limits = field(default_factory=Limits)


@dataclass
class Execution:
    status: Status
    output: Any  # stdout text (stdio) or the decoded JSON return value (functional); None unless OK
    stderr_tail: str = ""
    exit_code: int | None = None
    cpu_time: float = 0.0
    wall_time: float = 0.0
    peak_memory_mb: float = 0.0


class Executor(Protocol):
    """Runs batches of untrusted programs; results come back in the order of `jobs`."""

    def run(self, jobs: Sequence[Job]) -> list[Execution]: ...

    def close(self) -> None: ...
