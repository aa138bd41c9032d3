"""Run one `atest` command as a child process, keep its `--json`, skip it when it already ran.

Shared by `atest demo` and `atest reproduce`. Every step runs exactly as a user would type
it, with `--json` captured into `<results_dir>/<step>.json`. So a report can list the
commands that reproduce each number, a failed step says which command failed, each model
loads in a process of its own, and an interrupted run resumes at the first step without a
result file; a step killed mid-way (a `train` or `gen-tests` run) continues its partial
output with its `Resume` command. This runs the CLI, so it lives in the command layer.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from atest.core.errors import ExternalError
from atest.core.io import write_json_atomic
from atest.core.steps import StepRecord, command_line

__all__ = ["Resume", "StepHook", "StepRunner", "command_line"]

StepHook = Callable[[int, str, str], None]


class Resume(NamedTuple):
    """How to continue a step killed mid-way: the files it leaves behind, the command that continues."""

    markers: tuple[Path, ...]
    argv: list[str]


class StepRunner:
    """Runs steps in order; `what` names the orchestrating command in messages, `rerun` the
    command line that resumes it."""

    def __init__(
        self,
        results_dir: Path,
        *,
        what: str,
        rerun: str,
        on_step: StepHook = lambda i, label, command: None,
        root_argv: list[str] | None = None,
    ):
        self.results_dir = results_dir
        self.root_argv = root_argv or []  # the orchestrator's own root options (sandbox), for every step
        self.what = what
        self.rerun = rerun
        self.on_step = on_step
        self.records: list[StepRecord] = []
        self._index = 0

    def saved(self, name: str) -> Path:
        return self.results_dir / f"{name}.json"

    def step(self, name: str, label: str, argv: list[str], resume: Resume | None = None) -> dict[str, Any]:
        """Run `atest ARGV --json` once; a saved result means it already ran.

        A step killed mid-way leaves its partial output behind (one of `resume.markers`); the
        rerun then runs `resume.argv`, which continues that output instead of refusing it.
        """
        self._index += 1
        command = command_line(argv)
        self.on_step(self._index, label, command)
        saved = self.saved(name)
        if saved.exists():
            result = json.loads(saved.read_text())
            self.records.append(StepRecord(name, label, command, 0.0, True, result))
            return result
        start = time.perf_counter()
        if resume is not None and any(path.exists() for path in resume.markers):
            argv = resume.argv
        proc = subprocess.run(
            [sys.executable, "-m", "atest", *self.root_argv, *argv, "--json"],
            stdout=subprocess.PIPE,
            stderr=None,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise ExternalError(
                f"{self.what} step '{name}' failed (exit {proc.returncode}): {command}",
                f"see the messages above; rerun `{self.rerun}` to resume from this step",
            )
        try:
            result = json.loads(proc.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError) as exc:
            raise ExternalError(f"{self.what} step '{name}' printed no JSON summary: {command}") from exc
        write_json_atomic(saved, result)
        self.records.append(StepRecord(name, label, command, seconds, False, result))
        return result
