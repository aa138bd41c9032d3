"""What crosses a process boundary in the sandbox: limits in, result records out, framing.

Defined once for both sides of every channel: the caller and `harness.py` run as a script
(the `subprocess` provider), and the fork server's supervisor (forkserver.py) and worker
(zygote.py). Those worker processes run with `-I -S` and never import atest, so this module
holds standard library code only and they load it by path (`harness.load_beside`); atest
imports it as `atest.core.sandbox.wire`. A program can reach the channel its record travels
on, so `decode` never trusts a record's shape.

Fork-server protocol: a request is `HEADER` (the limits and the input count; the job itself
waits in a file only the forked child reads); the answer is a `LENGTH` record count, then
per input a `LENGTH` and an encoded `Record`, or `FAULT` in place of the count and a
length-prefixed message when the worker itself failed.
"""

import json
import struct
from enum import Enum
from typing import NamedTuple

HEADER = struct.Struct("<ddqqq")  # cpu_seconds, wall limit, memory_mb, output_bytes, input count
LENGTH = struct.Struct("<Q")
FAULT = 2**64 - 1  # in place of a record count: the worker failed, a message follows


class Status(str, Enum):
    """How one execution ended, before any output comparison."""

    OK = "ok"
    RUNTIME_ERROR = "runtime_error"
    TIME_LIMIT = "time_limit"
    MEMORY_LIMIT = "memory_limit"
    OUTPUT_LIMIT = "output_limit"


class Limits(NamedTuple):
    """Per-execution limits. CPU time is the time limit; wall time is only a watchdog."""

    cpu_seconds: float = 2.0
    memory_mb: int = 1024
    output_bytes: int = 4_000_000
    wall_seconds: float | None = None  # default: 2 * cpu_seconds + 1

    @property
    def wall_limit(self) -> float:
        return self.wall_seconds if self.wall_seconds is not None else 2 * self.cpu_seconds + 1


class Harness(NamedTuple):
    """How the harness hands a program its input and names, beyond its limits: the runner's
    own rules, which a verdict can depend on (the rules object picks them, `atest.core.rules`).

    `stdin_newline`: a stdio input lacking a final newline gets one (atest), or stdin is passed
    exactly as given (the UTRL authors' runner: a program that reads `readline()[:-1]` sees the
    difference). `prelude`: "atest" (names programs use without importing them, never
    shadowing a builtin, behind the builtins) or "utrl" (the authors' star-import header run as
    the program's first lines, `harness.PRELUDE_SOURCES`, and nothing else).
    """

    stdin_newline: bool = True
    prelude: str = "atest"


def pack_request(limits: Limits, count: int) -> bytes:
    """The fork server's request header for `count` inputs under `limits` (wall limit resolved)."""
    return HEADER.pack(limits.cpu_seconds, limits.wall_limit, limits.memory_mb, limits.output_bytes, count)


def unpack_request(header: bytes) -> tuple[Limits, int]:
    cpu_seconds, wall, memory_mb, output_bytes, count = HEADER.unpack(header)
    return Limits(cpu_seconds, memory_mb, output_bytes, wall), count


class Record(NamedTuple):
    """How one input ended, as the process that ran it (or watched it die) reports it.

    The caller settles it into an `Execution` (`harness.settle`: a functional call counts
    only if its function returned; its output is still JSON text here).
    """

    status: Status
    output: str | None  # stdout text or the returned JSON text; None unless ok
    returned: bool  # a functional call's function returned (the program did not exit first)
    stderr_tail: str
    exit_code: int | None
    cpu_time: float
    wall_time: float
    peak_memory_mb: float

    def encode(self) -> bytes:
        return json.dumps(self._asdict()).encode()


MALFORMED = Record(Status.RUNTIME_ERROR, None, False, "sandbox: malformed result record", None, 0.0, 0.0, 0.0)


def decode(data: bytes) -> Record:
    """A received record, or `MALFORMED` when it is not exactly the shape a real one has."""
    try:
        fields = json.loads(data)
        if isinstance(fields, dict) and fields.keys() == Record.__annotations__.keys():
            return Record(*(_field(kind, fields[name]) for name, kind in Record.__annotations__.items()))
    except (ValueError, TypeError, OverflowError, RecursionError):  # a forged record, nested deep
        pass
    return MALFORMED


def _field(kind, value):
    """A JSON value as the record's field of type `kind` holds it; TypeError if it cannot be one."""
    if kind is float:
        if isinstance(value, (int, float)):
            return float(value)
    elif kind is Status:
        if isinstance(value, str):
            return Status(value)
    elif isinstance(value, kind):
        return value
    raise TypeError(f"{value!r} is not {kind}")
