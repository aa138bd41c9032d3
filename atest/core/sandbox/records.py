"""Result records, as providers receive them (`wire.decode`), into `Execution`s.

The record's shape is checked once, where it is decoded; settling (the functional
"returned" check, JSON decoding of a return value) is the harness's rule.
"""

from __future__ import annotations

from atest.core.sandbox import harness
from atest.core.sandbox.types import Execution, Job
from atest.core.sandbox.wire import Record


def to_execution(job: Job, record: Record) -> Execution:
    status, output, stderr = harness.settle(job.program.kind, record)
    return Execution(
        status=status,
        output=output,
        stderr_tail=stderr,
        exit_code=record.exit_code,
        cpu_time=record.cpu_time,
        wall_time=record.wall_time,
        peak_memory_mb=record.peak_memory_mb,
    )
