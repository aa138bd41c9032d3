"""`get_executor`: the one entry point callers use to run untrusted programs.

It picks a provider (where programs run) and wraps it in `CachedExecutor`, which owns
what must not depend on the provider: de-duplication, the memory and disk caches, and the
rule that an infrastructure fault is retried, never cached, and finally fails the command.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from atest.core.errors import ExternalError, InputError
from atest.core.sandbox.cache import DiskCache, MemoryCache, job_key
from atest.core.sandbox.local import ISOLATIONS, Isolation, LocalProvider, check_isolation
from atest.core.sandbox.settings import PROVIDERS, SandboxSettings
from atest.core.sandbox.types import Execution, Fault, Job, Provider

log = logging.getLogger("atest.sandbox")

__all__ = [
    "ISOLATIONS",
    "PROVIDERS",
    "CachedExecutor",
    "Isolation",
    "SandboxSettings",
    "get_executor",
    "make_provider",
]

FAULT_ATTEMPTS = 3  # runs of a job whose provider faulted, before the command fails


class CachedExecutor:
    """Runs batches of jobs on a provider, deduplicated and cached, with faults retried.

    Identical (program, input, limits) jobs in a batch run once; results are remembered for
    the life of the executor (bounded LRU) and, with `cache_dir`, on disk across runs. A
    `Fault` is retried up to `FAULT_ATTEMPTS` runs in all, is never stored, and when it
    persists the call raises `ExternalError` (exit 3) naming the cause.
    """

    def __init__(self, provider: Provider, cache_dir: str | Path | None = None):
        self.provider = provider
        self.layers = provider.layers
        self.executed = 0
        self.faults = 0
        self._memory = MemoryCache()
        self._disk = DiskCache(cache_dir) if cache_dir else None

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
        fresh = self._run_fresh(todo) if todo else {}
        return [fresh.get(key) or self._memory.get(key) for key in keys]  # type: ignore[misc]

    def _run_fresh(self, todo: dict[str, Job]) -> dict[str, Execution]:
        fresh: dict[str, Execution] = {}
        for attempt in range(1, FAULT_ATTEMPTS + 1):
            answers = self.provider.run(list(todo.values()))
            done: dict[str, Execution] = {}
            faults: list[Fault] = []
            for key, answer in zip(list(todo), answers, strict=True):
                if isinstance(answer, Fault):
                    faults.append(answer)
                else:
                    done[key] = answer
                    del todo[key]
            self._store(done)
            fresh.update(done)
            if not faults:
                return fresh
            self.faults += len(faults)
            log.warning(
                "sandbox (%s): infrastructure fault on %d execution(s), attempt %d of %d: %s",
                self.provider.name,
                len(faults),
                attempt,
                FAULT_ATTEMPTS,
                faults[0].cause,
            )
        raise ExternalError(
            f"the {self.provider.name} sandbox failed on {len(todo)} execution(s) "
            f"{FAULT_ATTEMPTS} times: {faults[0].cause}",
            "no verdict was recorded for them; check the machine or cluster and rerun "
            "(finished results are cached)",
        )

    def _store(self, fresh: dict[str, Execution]) -> None:
        self.executed += len(fresh)
        for key, execution in fresh.items():
            self._memory.put(key, execution)
        if fresh and self._disk is not None:
            self._disk.put_many(fresh)

    def close(self) -> None:
        self.provider.close()
        if self._disk is not None:
            self._disk.close()
            self._disk = None

    def __enter__(self) -> CachedExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_provider(settings: SandboxSettings, workers: int | None) -> Provider:
    """The provider `settings` name, started; `workers` is per machine (Ray: per node, default
    its CPUs; sandboxfusion: requests in flight, default 2 per local core)."""
    check_isolation(settings.isolation)
    name, isolation, max_batch = settings.executor, settings.isolation, settings.max_batch
    if name == "local":
        return LocalProvider(workers or os.cpu_count() or 1, isolation, max_batch)  # type: ignore[arg-type]
    if name == "subprocess":
        from atest.core.sandbox.oneshot import SubprocessProvider

        return SubprocessProvider(workers or os.cpu_count() or 1, isolation)
    if name == "ray":
        from atest.core.sandbox.raycluster import RayProvider

        return RayProvider(settings.ray_address, isolation, max_batch, workers)
    if name == "sandboxfusion":
        from atest.core.sandbox.fusion import FusionProvider

        return FusionProvider(settings, workers)
    raise InputError(f"unknown sandbox executor {name!r}", f"use one of {', '.join(PROVIDERS)}")


@contextmanager
def get_executor(
    isolation: Isolation | None = None,
    workers: int | None = None,
    cache_dir: str | Path | None = None,
    max_batch: int | None = None,
    executor: str | None = None,
    ray_address: str | None = None,
    *,
    settings: SandboxSettings | None = None,
) -> Iterator[CachedExecutor]:
    """The executor every command uses.

    `settings` is what the CLI resolved (flag > environment > config: `settings.resolve`);
    without it, the defaults (local provider, `auto` isolation, batches of 64). The keyword
    arguments override single fields of it. Nothing here reads the environment.
    """
    chosen = settings or SandboxSettings()
    overrides = {
        "isolation": isolation,
        "max_batch": max_batch,
        "executor": executor,
        "ray_address": ray_address,
    }
    chosen = replace(chosen, **{k: v for k, v in overrides.items() if v is not None})
    if chosen.executor not in PROVIDERS:
        raise InputError(
            f"unknown sandbox executor {chosen.executor!r}", f"use one of {', '.join(PROVIDERS)}"
        )
    provider = make_provider(chosen, workers)
    wrapped = CachedExecutor(provider, cache_dir)
    try:
        yield wrapped
    finally:
        wrapped.close()
