"""What a step of an orchestrating command leaves behind: one `atest` command and its result.

`atest demo` and `atest reproduce` run every step as an `atest ... --json` child process
(atest/commands/_steps.py). The core reads these records back for the reports: the command
that reproduces each number, how long it took, and whether a saved result was reused.
"""

from __future__ import annotations

import json
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


def command_line(argv: list[str]) -> str:
    """The command as a user types it (arguments quoted only when a shell needs it)."""
    return "atest " + " ".join(_quote(a) for a in argv)


def _quote(arg: str) -> str:
    return arg if arg and all(c.isalnum() or c in "-_./=,:" for c in arg) else json.dumps(arg)
