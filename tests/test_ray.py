"""The Ray provider on a real two-node Ray cluster on this machine.

A head and a second node, each its own `ray start` with one CPU and a small object store,
started by the fixture and killed in teardown. Through them: the shared corpus (same
verdicts as the local fork server), the hostile suite of tests/test_sandbox.py, and a node
killed mid-run with no verdict lost or changed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import test_sandbox
from sandbox_corpus import CORPUS, outcomes, stdio

from atest.core.sandbox import Job, Limits, Program, get_executor
from atest.core.sandbox.forkserver import UID_BASE
from atest.core.sandbox.raylocal import NODE_ENV, LocalCluster

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    with pytest.MonkeyPatch.context() as patch:
        for name, value in NODE_ENV.items():
            patch.setenv(name, value)
        local = LocalCluster(object_store_mb=100)
        try:
            local.start(cpus=1)
            local.add_node(cpus=1)
            yield local
        finally:
            local.stop()


@pytest.fixture(scope="module")
def executor(cluster):
    with get_executor(executor="ray", ray_address=cluster.address) as ex:
        yield ex


def ray_sandbox_processes(executor) -> list[int]:
    """Processes running under a sandbox uid of any worker on any node of the cluster."""
    pids = [pid for info in executor.provider.describe().values() for pid in info["worker_pids"]]
    uids = {UID_BASE + pid for pid in pids}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        uid = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("Uid:"))
        if uid in uids:
            found.append(int(entry.name))
    return found


def test_every_node_holds_an_isolated_sandbox(executor):
    nodes = executor.provider.describe()
    assert len(nodes) == 2
    for info in nodes.values():
        assert {"network namespace", "mount namespace", "read-only minimal root"} <= set(info["layers"])
        assert info["workers"] == 1  # all of the node's CPUs, as Ray reports them


def test_the_corpus_gets_the_local_verdicts(executor):
    jobs = [job for _, job, _ in CORPUS]
    with get_executor(workers=2) as local:
        expected = outcomes(local.run(jobs))
    for (name, _, _), ours, theirs in zip(CORPUS, expected, outcomes(executor.run(jobs)), strict=True):
        assert theirs == ours, name


@pytest.fixture
def clean_after(executor):
    """As in test_sandbox: nothing survives on any node, and a batch still runs at normal speed."""
    yield
    assert ray_sandbox_processes(executor) == []
    results = executor.run([stdio(f"print({i} * 3)") for i in range(20)])
    assert [r.output for r in results] == [f"{i * 3}\n" for i in range(20)]
    assert max(r.wall_time for r in results) < 0.5


@pytest.mark.hostile
@pytest.mark.usefixtures("clean_after")
class TestHostileOnRay(test_sandbox.TestHostile):
    """The hostile suite, each program run through the Ray provider."""

    def test_a_dead_worker_is_restarted(self, executor):
        for info in executor.provider.describe().values():
            os.kill(info["worker_pids"][0], signal.SIGKILL)
        results = executor.run([stdio(f"print({i} + 100)") for i in range(6)])
        assert [r.output for r in results] == [f"{i + 100}\n" for i in range(6)]


def spin_jobs(n_programs: int, inputs: int) -> list[Job]:
    """Programs that each burn ~10 ms of CPU per input, so a run lasts a few seconds."""
    source = (
        "import time\nx = int(input())\nt = time.process_time()\n"
        "while time.process_time() - t < 0.01: pass\nprint(x * {p} + {p})\n"
    )
    return [
        Job(Program(source.format(p=p), "stdio"), f"{i}\n", Limits(cpu_seconds=1))
        for p in range(n_programs)
        for i in range(inputs)
    ]


def test_a_node_killed_mid_run_loses_and_changes_no_verdict(cluster, executor):
    jobs = spin_jobs(8, 60)
    with get_executor(workers=2) as local:
        expected = outcomes(local.run(jobs))
    third = cluster.add_node(cpus=1)
    executor.run([stdio("print('join')")])  # the new node gets its actor
    assert len(executor.provider.nodes) == 3
    killer = threading.Timer(1.0, cluster.kill_node, args=(third,))
    killer.start()
    try:
        results = executor.run(jobs)
    finally:
        killer.cancel()
    assert outcomes(results) == expected
    assert len(executor.provider.nodes) == 2 and executor.faults == 0
    assert [r.output for r in executor.run([stdio("print(5)")])] == ["5\n"]


def test_cli_starts_and_stops_a_local_ray_runtime():
    """Without --ray-address the command starts its own runtime, gets local's answers, and stops it."""
    base = [sys.executable, "-m", "atest"]
    command = ["prepare", "--source", "sample", "--limit", "2", "--verify", "--json"]
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    ray_run = subprocess.run(
        [*base, "--executor", "ray", *command], capture_output=True, text=True, env=env, timeout=300
    )
    assert ray_run.returncode == 0, ray_run.stderr
    local_run = subprocess.run([*base, *command], capture_output=True, text=True, timeout=300)
    assert json.loads(ray_run.stdout) == json.loads(local_run.stdout)
    leftovers = subprocess.run(["pgrep", "-f", "/tmp/ray/session_"], capture_output=True, text=True)
    assert leftovers.stdout == ""
