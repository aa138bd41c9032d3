"""`get_executor`: the one entry point callers use to run untrusted programs."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from atest.core.errors import ExternalError, InputError
from atest.core.sandbox.cache import DiskCache, MemoryCache, job_key
from atest.core.sandbox.forkserver import MAX_BATCH, WorkerPool
from atest.core.sandbox.types import Execution, Job

log = logging.getLogger("atest.sandbox")

Isolation = Literal["auto", "namespace", "none"]
ISOLATIONS = ("auto", "namespace", "none")
SANDBOX_ENV = "ATEST_SANDBOX"
BATCH_ENV = "ATEST_SANDBOX_BATCH"


class ForkServerExecutor:
    """Runs batches of jobs on pre-started workers, deduplicated and cached.

    Identical (program, input, limits) jobs in a batch run once; results are remembered for
    the life of the executor (bounded LRU) and, with `cache_dir`, on disk across runs. Up to
    `max_batch` inputs of one program share a forked child (each in a fresh module, and in a
    fresh fork after any input that changes the process); `max_batch=1` forks per execution.
    """

    def __init__(
        self,
        workers: int,
        isolation: Isolation = "auto",
        cache_dir: str | Path | None = None,
        max_batch: int = MAX_BATCH,
    ):
        if isolation not in ISOLATIONS:
            raise InputError(
                f"unknown sandbox isolation {isolation!r}", f"use one of {', '.join(ISOLATIONS)}"
            )
        if workers < 1:
            raise InputError(f"sandbox workers must be at least 1, got {workers}")
        if max_batch < 1:
            raise InputError(f"sandbox batch size must be at least 1, got {max_batch}")
        self._pool = WorkerPool(workers, "none" if isolation == "none" else "namespace", max_batch)
        self.isolation = isolation
        self.layers = self._pool.layers
        self.executed = 0
        self._memory = MemoryCache()
        self._disk = DiskCache(cache_dir) if cache_dir else None
        self._report_isolation()

    def _report_isolation(self) -> None:
        failure = self._pool.failure
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

    def run(self, jobs: Sequence[Job]) -> list[Execution]:
        keys = [job_key(job) for job in jobs]
        todo: dict[str, Job] = {}
        for key, job in zip(keys, jobs, strict=True):
            if key not in todo and self._memory.get(key) is None:
                todo[key] = job
        if todo and self._disk is not None:
            for key, execution in self._disk.get_many(list(todo)).items():
                self._memory.put(key, execution)
                del todo[key]
        if todo:
            fresh = dict(zip(todo, self._pool.run(list(todo.values())), strict=True))
            self.executed += len(fresh)
            for key, execution in fresh.items():
                self._memory.put(key, execution)
            if self._disk is not None:
                self._disk.put_many(fresh)
            results = {**fresh}
        else:
            results = {}
        return [results.get(key) or self._memory.get(key) for key in keys]  # type: ignore[misc]

    def close(self) -> None:
        self._pool.close()
        if self._disk is not None:
            self._disk.close()
            self._disk = None


def _batch_from_env() -> int:
    value = os.environ.get(BATCH_ENV)
    if value is None:
        return MAX_BATCH
    try:
        return int(value)
    except ValueError:
        raise InputError(
            f"${BATCH_ENV}={value!r} is not a whole number", "set it to 1 (a fork per execution) or more"
        ) from None


@contextmanager
def get_executor(
    isolation: Isolation | None = None,
    workers: int | None = None,
    cache_dir: str | Path | None = None,
    max_batch: int | None = None,
) -> Iterator[ForkServerExecutor]:
    """The executor every command uses.

    Isolation defaults to $ATEST_SANDBOX (`atest --sandbox`), else auto; the batch size to
    $ATEST_SANDBOX_BATCH (`atest --sandbox-batch`), else `MAX_BATCH`.
    """
    chosen = isolation or os.environ.get(SANDBOX_ENV) or "auto"
    batch = max_batch if max_batch is not None else _batch_from_env()
    executor = ForkServerExecutor(workers or os.cpu_count() or 1, chosen, cache_dir, batch)  # type: ignore[arg-type]
    try:
        yield executor
    finally:
        executor.close()
