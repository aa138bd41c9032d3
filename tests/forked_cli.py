"""The suite's `atest` commands as forks of one preloaded server per xdist worker
(atest/core/forkrun.py says what a fork is and why).

What a fork cannot reproduce runs the real way (`tests/atest_cli.py`):
- an environment that differs from the server's in anything but `ATEST_*`, `OPENAI_*`, `VLLM_*`
  and pytest's `PYTEST_CURRENT_TEST` (read when a command runs, never at import; a library may
  read the others at import: PYTHONPATH, HF_*, OMP_*, TMPDIR, PYTHONPROFILEIMPORTTIME ...);
- a second command while the server runs one (a test that overlaps two commands);
- `ATEST_TEST_FORK=0` in the suite's environment (every command then runs the real way), a
  machine with a GPU device, or a server that could not start (a warning says so).
Tests that assert what a command imports run it the real way (their environment differs).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import warnings
from pathlib import Path

from atest.core.forkrun import ForkLost, ForkRefused, ForkServer, cpu_only_machine

# Read when a command runs, never at import: atest's own and the OpenAI client's settings, vLLM's
# (the server does not import vLLM), and the name pytest gives each test's phase (no command reads it)
LAZY_PREFIXES = ("ATEST_", "OPENAI_", "VLLM_", "PYTEST_CURRENT_TEST")


class SuiteForks:
    """The worker's server, started at its first forkable command."""

    def __init__(self) -> None:
        self.server = ForkServer(sessions=True, quiet=True)
        self.lock = threading.Lock()  # held while a command runs: an overlapping one runs the real way
        self.off = os.environ.get("ATEST_TEST_FORK", "1") == "0" or not cpu_only_machine()

    def forkable(self, env: dict[str, str]) -> bool:
        """Only variables read after import may differ from the environment the server started
        with (or will start with: this process's)."""
        server = self.server.env if self.server.started else dict(os.environ)
        differ = {k for k in env.keys() | server.keys() if env.get(k) != server.get(k)}
        return all(k.startswith(LAZY_PREFIXES) for k in differ)

    def run(
        self, args: tuple[str, ...], timeout: float, env: dict[str, str]
    ) -> subprocess.CompletedProcess | None:
        """The command's result, or None where it must run the real way."""
        if self.off or not self.forkable(env) or not self.lock.acquire(blocking=False):
            return None
        try:
            with tempfile.TemporaryDirectory(prefix="forked-cli-") as tmp:
                out, err = Path(tmp, "stdout"), Path(tmp, "stderr")
                command = [sys.executable, "-m", "atest", *args]
                try:
                    code = self.server.run(list(args), env=env, stdout=out, stderr=err, timeout=timeout)
                except subprocess.TimeoutExpired:
                    raise subprocess.TimeoutExpired(
                        command, timeout, out.read_text(), err.read_text()
                    ) from None
                return subprocess.CompletedProcess(command, code, out.read_text(), err.read_text())
        except ForkLost:
            self.off = True  # the command may have run part-way: the test fails, the rest run the real way
            raise
        except ForkRefused as exc:
            warnings.warn(f"{exc}: atest commands run the real way from here on", stacklevel=3)
            self.off = True
            return None
        finally:
            self.lock.release()


SERVER = SuiteForks()
