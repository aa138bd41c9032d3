"""The `local` provider: this machine's fork server (one pre-started worker per core)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

from atest.core.errors import ExternalError, InputError
from atest.core.sandbox.forkserver import MAX_BATCH, WorkerPool
from atest.core.sandbox.types import Execution, Fault, Job

log = logging.getLogger("atest.sandbox")

Isolation = Literal["auto", "namespace", "none"]
ISOLATIONS = ("auto", "namespace", "none")


def check_isolation(isolation: str) -> None:
    if isolation not in ISOLATIONS:
        raise InputError(f"unknown sandbox isolation {isolation!r}", f"use one of {', '.join(ISOLATIONS)}")


class LocalProvider:
    """`workers` fork-server workers on this machine; see docs/sandbox.md for what they isolate.

    Up to `max_batch` inputs of one program share a forked child (each in a fresh module,
    and in a fresh fork after any input that changes the process); `max_batch=1` forks per
    execution. The Ray provider runs one of these on every node.
    """

    name = "local"

    def __init__(self, workers: int, isolation: Isolation = "auto", max_batch: int = MAX_BATCH):
        check_isolation(isolation)
        if workers < 1:
            raise InputError(f"sandbox workers must be at least 1, got {workers}")
        if max_batch < 1:
            raise InputError(f"sandbox batch size must be at least 1, got {max_batch}")
        self.pool = WorkerPool(workers, "none" if isolation == "none" else "namespace", max_batch)
        self.isolation = isolation
        self.layers = self.pool.layers
        self._report_isolation()

    def _report_isolation(self) -> None:
        failure = self.pool.failure
        if self.pool.filter_failure:
            log.warning("sandbox: programs run without the syscall filter (%s)", self.pool.filter_failure)
        if self.isolation == "none":
            log.warning("sandbox isolation is off (--sandbox none): only run code you trust")
        elif failure:
            if self.isolation == "namespace":
                self.close()
                raise ExternalError(
                    f"sandbox namespaces are unavailable here ({failure})",
                    "enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1) "
                    "or use --sandbox auto to run with resource limits only",
                )
            log.warning(
                "sandbox: namespaces unavailable (%s); programs run with resource limits only, "
                "without network, filesystem or uid isolation",
                failure,
            )

    def run(self, jobs: Sequence[Job]) -> list[Execution | Fault]:
        return self.pool.run(jobs) if jobs else []

    def close(self) -> None:
        self.pool.close()
