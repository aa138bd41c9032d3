"""The executor contract: what callers hand the sandbox and what they get back.

Rewards, metrics, mutants and `prepare --verify` all speak only these types, so the
isolation machinery behind them can change without touching its callers. `Limits` and
`Status` cross into the processes that run programs, so they are `wire`'s (standard
library only) and re-exported here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from atest.core.sandbox.wire import Harness, Limits, Status
from atest.core.tasks import Kind

__all__ = [
    "Execution",
    "Executor",
    "Fault",
    "Harness",
    "Job",
    "Limits",
    "Program",
    "Provider",
    "Status",
    "Verdict",
    "input_key",
]


class Verdict(str, Enum):
    """A program's result on one test, after comparing with the expected output."""

    ACCEPTED = "accepted"
    WRONG_ANSWER = "wrong_answer"
    RUNTIME_ERROR = "runtime_error"
    TIME_LIMIT = "time_limit"
    MEMORY_LIMIT = "memory_limit"
    OUTPUT_LIMIT = "output_limit"
    INVALID = "invalid"  # the reference itself failed on this input


DEFAULT_HARNESS = Harness()


@dataclass(frozen=True)
class Program:
    source: str
    kind: Kind
    fn_name: str | None = None
    harness: Harness = field(default_factory=Harness)  # the runner's own rules (stdin, prelude)

    @property
    def key(self) -> str:
        h = hashlib.sha256()
        parts = [self.kind, self.fn_name or "", self.source]
        if self.harness != DEFAULT_HARNESS:  # atest's harness keeps the keys (and caches) it always had
            parts += ["\0harness", json.dumps(self.harness._asdict(), sort_keys=True)]
        for part in parts:
            h.update(part.encode("utf-8", "surrogatepass"))
            h.update(b"\0")
        return h.hexdigest()


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


@dataclass(frozen=True)
class Fault:
    """The infrastructure failed on a job (a worker or a node died, a fork was refused).

    Never a verdict on the program: the executor retries it, never caches it, and fails
    the command (exit 3) when it persists.
    """

    cause: str


class Executor(Protocol):
    """Runs batches of untrusted programs; results come back in the order of `jobs`."""

    def run(self, jobs: Sequence[Job]) -> list[Execution]: ...

    def close(self) -> None: ...


class Provider(Protocol):
    """Where programs run (this machine's fork server, one process per run, a Ray cluster).

    `run` answers every job in order, with an `Execution` or a `Fault`; caching,
    de-duplication and retries of faults belong to the executor wrapped around it.
    """

    name: str
    layers: list[str]

    def run(self, jobs: Sequence[Job]) -> list[Execution | Fault]: ...

    def close(self) -> None: ...
