"""Running the `atest` command the way a user or a CI script does: a child process, no terminal."""

from __future__ import annotations

import subprocess
import sys


def run_cli(
    *args: str, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`python -m atest ARGS` with captured text output and no stdin (a prompt would fail, not hang)."""
    return subprocess.run(
        [sys.executable, "-m", "atest", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env=env,
    )
