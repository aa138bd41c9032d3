"""The `subprocess` provider: one fresh interpreter per run, as the papers' code runs programs.

It is the reference every benchmark compares against (one copy instead of a naive runner
per bench), and the simplest thing to trust: a new `python -I -S harness.py` per
execution, with the same harness, limits and conventions as the fork server, so the
verdicts are the same. What it lacks is isolation (no namespaces: a program sees the
host's files and network) and speed (a fresh interpreter per run).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from atest.core.errors import ExternalError
from atest.core.sandbox import harness, wire
from atest.core.sandbox.records import to_execution
from atest.core.sandbox.types import Execution, Fault, Job

log = logging.getLogger("atest.sandbox")

HARNESS = Path(harness.__file__)
START_ALLOWANCE = 1.0  # seconds on top of the wall limit for the interpreter to start


class SubprocessProvider:
    """`workers` threads, each running one `harness.py` process per job and waiting for it."""

    name = "subprocess"

    def __init__(self, workers: int, isolation: str = "auto"):
        if isolation == "namespace":
            raise ExternalError(
                "the subprocess executor has no namespaces (--sandbox namespace)",
                "use --executor local or ray for isolated runs, or --sandbox auto",
            )
        log.warning(
            "sandbox executor subprocess: resource limits, a private work dir and a clean "
            "environment only (no namespaces); use it for reference runs of trusted code"
        )
        self.workers = workers
        self.layers: list[str] = []
        self._root = tempfile.mkdtemp(prefix="atest-oneshot-")
        self._site_dirs = [p for p in site.getsitepackages() if os.path.isdir(p)]
        self._count = 0
        self._lock = threading.Lock()

    def run(self, jobs: Sequence[Job]) -> list[Execution | Fault]:
        if not jobs:
            return []
        with ThreadPoolExecutor(self.workers) as pool:
            return list(pool.map(self._one, jobs))

    def close(self) -> None:
        shutil.rmtree(self._root, ignore_errors=True)

    def _one(self, job: Job) -> Execution | Fault:
        with self._lock:
            self._count += 1
            run_dir = os.path.join(self._root, str(self._count))
        try:
            os.mkdir(run_dir, 0o700)
            return to_execution(job, self._execute(job, run_dir))
        except OSError as exc:
            return Fault(f"could not run a subprocess: {exc}")
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)

    def _execute(self, job: Job, run_dir: str) -> wire.Record:
        program, limits = job.program, job.limits
        spec = {
            "source": program.source,
            "kind": program.kind,
            "fn_name": program.fn_name,
            "input": job.input,
            "limits": limits._asdict(),
            "site_dirs": self._site_dirs,
        }
        job_path, result_path = os.path.join(run_dir, "job.json"), os.path.join(run_dir, "result.json")
        work = os.path.join(run_dir, "w")
        os.mkdir(work, 0o700)
        with open(job_path, "w", encoding="utf-8", errors="surrogatepass") as f:
            json.dump(spec, f)
        stdin = harness.stdin_text(job.input) if program.kind == "stdio" else ""
        with (
            open(os.path.join(run_dir, "in"), "w+b") as f_in,
            open(os.path.join(run_dir, "out"), "w+b") as f_out,
            open(os.path.join(run_dir, "err"), "w+b") as f_err,
        ):
            f_in.write(stdin.encode("utf-8", "surrogateescape"))
            f_in.seek(0)
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", str(HARNESS), job_path, result_path],
                stdin=f_in,
                stdout=f_out,
                stderr=f_err,
                cwd=work,
                env={**harness.PROGRAM_ENV, "HOME": work, "TMPDIR": work},
                start_new_session=True,
            )
            status, usage, reason, wall = _wait(proc, limits.wall_limit + START_ALLOWANCE)
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)  # whatever the program left running
            if not reason:
                with contextlib.suppress(OSError), open(result_path, "rb") as f:
                    data = f.read()
                    if data:
                        return wire.decode(data)
            return harness.ended_record(
                status, reason, usage, 0.0, wall, limits, f_out.fileno(), f_err.fileno()
            )


def _wait(proc: subprocess.Popen, timeout: float):
    """(wait status, rusage, kill reason or None, seconds): the process, killed past `timeout`."""
    start = time.monotonic()
    pidfd = os.pidfd_open(proc.pid)
    try:
        ready, _, _ = select.select([pidfd], [], [], timeout)
    finally:
        os.close(pidfd)
    reason = None
    if not ready:
        reason = "wall"
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = status
    return status, usage, reason, time.monotonic() - start
