"""Running the `atest` command the way a user or a CI script does: a child process, no terminal."""

from __future__ import annotations

import os
import subprocess
import sys

from forked_cli import SERVER


def run_cli(
    *args: str, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`python -m atest ARGS` with captured text output and no stdin (a prompt would fail, not hang).

    The process is a fork of this worker's preloaded server where that is the same command
    (forked_cli.py says when); otherwise a fresh interpreter."""
    forked = SERVER.run(args, timeout, dict(os.environ if env is None else env))
    if forked is not None:
        return forked
    return subprocess.run(
        [sys.executable, "-m", "atest", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env=env,
    )
