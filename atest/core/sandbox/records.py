"""Result records, as providers receive them, into `Execution`s: validated, then settled.

A program can reach the channel its record travels on, so a record's shape is never
trusted; settling (the functional "returned" check, JSON decoding) is the harness's rule.
"""

from __future__ import annotations

import json

from atest.core.sandbox import harness
from atest.core.sandbox.types import Execution, Job, Status

NUMBER = (int, float)
RECORD_FIELDS = {  # field -> the types a real record gives it ("output" is required)
    "output": (str, type(None)),
    "returned": (bool,),
    "stderr_tail": (str,),
    "exit_code": (int, type(None)),
    "cpu_time": NUMBER,
    "wall_time": NUMBER,
    "peak_memory_mb": NUMBER,
}
MALFORMED = {"status": "runtime_error", "output": None, "stderr_tail": "sandbox: malformed result record"}


def decode(record: bytes) -> dict:
    """One result record, or a runtime error when it is not the shape a real one has."""
    try:
        message = json.loads(record)
        Status(message["status"])
        if "output" in message and all(
            isinstance(message[name], types) for name, types in RECORD_FIELDS.items() if name in message
        ):
            return message
    except (ValueError, TypeError, KeyError):
        pass
    return dict(MALFORMED)


def to_execution(job: Job, message: dict) -> Execution:
    status, output, stderr = harness.settle(
        job.program.kind,
        message["status"],
        message["output"],
        bool(message.get("returned")),
        message.get("stderr_tail", ""),
    )
    return Execution(
        status=Status(status),
        output=output,
        stderr_tail=stderr,
        exit_code=message.get("exit_code"),
        cpu_time=float(message.get("cpu_time", 0.0)),
        wall_time=float(message.get("wall_time", 0.0)),
        peak_memory_mb=float(message.get("peak_memory_mb", 0.0)),
    )
