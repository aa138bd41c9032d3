"""Fixtures shared across the test modules, and how `make test` spreads the suite over the cores.

`make test` runs pytest with pytest-xdist on every core (`-n logical --dist loadgroup`). Two
rules below keep that both fast and correct:

- the tests that share an expensive module-scoped fixture (a vLLM server, a Ray cluster:
  `SHARED_FIXTURES`) run on one worker, so that it starts once; every other test is handed
  out on its own, to whichever worker is free (a cheap module fixture is built by each worker
  that needs it; `build_once` shares what costs seconds across workers, e.g. the primed model);
- the units (a group, or a test alone) with the most tests marked `slow` are handed out first
  and the quick ones last, so that no worker is left running a long test alone at the end
  while the other idles.

Without `-n` nothing is reordered or grouped: a targeted run is a plain pytest run.

Every `atest` command a test starts through `atest_cli.run_cli` is a fork of a server process that
has imported torch, transformers, PEFT, TRL and every atest module once per worker
(tests/forked_cli.py, which says what runs the real way instead); `ATEST_TEST_FORK=0` runs every
command as a fresh `python -m atest`.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest


def _share_the_cores_among_workers() -> None:
    """Under xdist, each worker process (and every CLI it starts) gets its share of the cores as
    its OpenMP/MKL thread count, unless the caller set one.

    Torch's default is a thread per core in every process: two workers on two cores ran four
    spinning OpenMP threads, and a thread that waits on a descheduled peer spins out its time
    slice (on this 2-core machine two threads made a tiny model 27 times slower than one beside
    other work, docs/training.md). Set here, at import, before any test module imports torch, and
    inherited by the `atest` processes the tests start; the fast path's own thread choice
    (`fast.threads`) still applies on top where a run makes it."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 0)
    if workers < 2:
        return
    threads = max(1, len(os.sched_getaffinity(0)) // workers)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, str(threads))


_share_the_cores_among_workers()


@pytest.fixture(autouse=True)
def restore_environment():
    """Each test ends with the environment it started with.

    Libraries write launch variables into `os.environ` as they run in the test's process: TRL's
    colocated vLLM sets RANK, LOCAL_RANK, WORLD_SIZE and MASTER_PORT. Left behind, they reach
    every CLI the worker starts later, and accelerate takes a lone `atest warmup` for one process
    of a CPU launch and binds the rendezvous port (seen in CI: EADDRINUSE, exit 3 where the test
    expected 2). Fixtures of a wider scope set theirs up before this snapshot, and keep them."""
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random Llama with a trained byte-level BPE tokenizer and a chat template, saved with
    `save_pretrained` (loads like any model folder; builds in about a second)."""
    from atest.core.models import build_tiny_model

    out = tmp_path_factory.mktemp("tiny-model")
    build_tiny_model(out)
    return out


BuildOnce = Callable[[str, Callable[[Path], None]], Path]


@pytest.fixture(scope="session")
def build_once(tmp_path_factory) -> BuildOnce:
    """`build_once(name, build)`: the folder `build(folder)` fills, built once per test run and
    shared by every module and every xdist worker of it (the first caller builds it under a file
    lock, the others wait and reuse it). For what costs seconds and several modules read, such
    as the format-primed model of tests/test_train_e2e.py; nothing may write into it."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's folder, above every worker's own (popen-gw0, popen-gw1, ...)
    root = base / "built-once"
    root.mkdir(exist_ok=True)

    def get(name: str, build: Callable[[Path], None]) -> Path:
        target = root / name
        with open(root / f"{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process dies
            if not (target / ".built").is_file():
                shutil.rmtree(target, ignore_errors=True)  # a build that died half-way
                target.mkdir()
                build(target)
                (target / ".built").write_text("ok\n")
        return target

    return get


# Module-scoped fixtures that cost tens of seconds or hold a server, per test file: the tests
# that use one (directly or through another fixture) run on one worker, so it starts once.
# Every other module fixture is cheap (a file, a sandbox pool) and is built by each worker
# that runs a test of its module.
SHARED_FIXTURES: dict[str, set[str]] = {
    "tests/test_vllm.py": {"vllm_server"},  # a vLLM server (an engine start: ~40 s idle)
    "tests/test_ray.py": {"cluster"},  # a two-node Ray cluster
    "tests/test_utrl_oracle.py": {"paper_bon", "runs"},  # the UTRL authors' evaluation runs
    "tests/test_mutants_data.py": {"tasks"},  # mutants of every LeetCode task
}


def _file(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


def _group(item: pytest.Item) -> str | None:
    """The xdist group of a test: its file and the shared fixtures it uses, or None."""
    used = sorted(SHARED_FIXTURES.get(_file(item), set()) & set(getattr(item, "fixturenames", ())))
    return f"{_file(item)}:{'+'.join(used)}" if used else None


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist only (see the module docstring): group the tests of a shared fixture, then put
    the units with the most slow tests first. Every worker collects and sorts alike, as xdist
    requires."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    slow_tests: dict[str, int] = {}  # unit -> its slow tests: the longest units are handed out first
    units = {}
    for item in items:
        group = _group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
        units[id(item)] = group or item.nodeid
        if item.get_closest_marker("slow") is not None:
            slow_tests[units[id(item)]] = slow_tests.get(units[id(item)], 0) + 1
    order = {id(item): (-slow_tests.get(units[id(item)], 0), index) for index, item in enumerate(items)}
    items.sort(key=lambda item: order[id(item)])
