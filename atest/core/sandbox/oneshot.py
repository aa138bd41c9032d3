"""The `subprocess` provider: one fresh interpreter per run, as the papers' code runs programs.

It is the reference every benchmark compares against (one copy instead of a naive runner
per bench), and the simplest thing to trust: a new `python -I -S harness.py` per
execution, with the same harness, limits and conventions as the fork server, so the
verdicts are the same. What it lacks is isolation (no namespaces: a program sees the
host's files and network) and speed (a fresh interpreter per run).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from atest.core.errors import ExternalError
from atest.core.sandbox import wire
from atest.core.sandbox.fresh import run_fresh, site_dirs
from atest.core.sandbox.records import to_execution
from atest.core.sandbox.types import Execution, Fault, Job

log = logging.getLogger("atest.sandbox")


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
        self._site_dirs = site_dirs()
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
        program = job.program
        spec = {
            "source": program.source,
            "kind": program.kind,
            "fn_name": program.fn_name,
            **program.harness._asdict(),
            "input": job.input,
            "limits": job.limits._asdict(),
            "site_dirs": self._site_dirs,
        }
        return run_fresh(spec, run_dir)
