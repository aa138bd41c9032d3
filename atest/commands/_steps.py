"""Run one `atest` command as a child process, keep its `--json`, skip it when it already ran.

Shared by `atest demo` and `atest reproduce`. Every step runs exactly as a user would type
it, with `--json` captured into `<results_dir>/<step>.json`. So a report can list the
commands that reproduce each number, a failed step says which command failed, each model
loads in a process of its own, and an interrupted run resumes at the first step without a
result file; a step killed mid-way (a `train` or `gen-tests` run) continues its partial
output with its `Resume` command. This runs the CLI, so it lives in the command layer.
On a machine without a GPU each step is a fork of a server that imported the ML stack once
(atest/core/forkrun.py: 4-6 s of imports saved per model step); `ATEST_FORK_STEPS=0` starts a
fresh interpreter for each instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from atest.core.errors import ExternalError
from atest.core.forkrun import ForkLost, ForkRefused, ForkServer, cpu_only_machine
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
        # None: each step a fresh interpreter (a GPU machine, ATEST_FORK_STEPS=0, or a refused server)
        forks = os.environ.get("ATEST_FORK_STEPS", "1") != "0" and cpu_only_machine()
        self._forks: ForkServer | None = ForkServer(sessions=False, quiet=False) if forks else None
        self.forked = 0  # steps run as forks (tests read it)

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
        returncode, stdout = self._run([*self.root_argv, *argv, "--json"])
        seconds = time.perf_counter() - start
        if returncode != 0:
            raise ExternalError(
                f"{self.what} step '{name}' failed (exit {returncode}): {command}",
                f"see the messages above; rerun `{self.rerun}` to resume from this step",
            )
        try:
            result = json.loads(stdout.strip().splitlines()[-1])
        except (IndexError, ValueError) as exc:
            raise ExternalError(f"{self.what} step '{name}' printed no JSON summary: {command}") from exc
        write_json_atomic(saved, result)
        self.records.append(StepRecord(name, label, command, seconds, False, result))
        return result

    def _run(self, argv: list[str]) -> tuple[int, str]:
        """`python -m atest ARGV`: its exit code and stdout, its stderr the user's. A fork of the
        preloaded server on a machine without a GPU (unless ATEST_FORK_STEPS=0), else a fresh
        interpreter; a server that cannot start is said once and the steps run the real way."""
        if self._forks is not None:
            with tempfile.TemporaryDirectory(prefix="atest-step-") as tmp:
                out = Path(tmp, "stdout")
                try:
                    code = self._forks.run(argv, env=dict(os.environ), stdout=out, stderr=None)
                    self.forked += 1
                    return code, out.read_text()
                except ForkLost as exc:
                    raise ExternalError(str(exc), f"rerun `{self.rerun}` to resume from this step") from exc
                except ForkRefused as exc:
                    print(f"{self.what}: {exc}; each step starts a fresh interpreter", file=sys.stderr)
                    self._forks = None
        proc = subprocess.run(
            [sys.executable, "-m", "atest", *argv],
            stdout=subprocess.PIPE,
            stderr=None,
            text=True,
            check=False,
        )
        return proc.returncode, proc.stdout

    def close(self) -> None:
        """Stop the fork server, if one started (it also stops when this process exits)."""
        if self._forks is not None:
            self._forks.close()
