"""What a step of an orchestrating command leaves behind: one `atest` command and its result.

`atest demo` and `atest reproduce` run every step as an `atest ... --json` child process
(atest/commands/_steps.py). The core reads these records back for the reports: the command
that reproduces each number, how long it took, and whether a saved result was reused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class StepRecord:
    name: str
    label: str
    command: str
    seconds: float
    resumed: bool
    result: dict[str, Any]
