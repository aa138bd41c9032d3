"""A real multi-node Ray cluster on one machine, for the Ray provider's tests and benchmark.

Every node is its own `ray start` (a raylet with its own CPUs and object store), in a
session of its own, so one node can be killed (SIGKILL to its process group: the raylet
and every worker it started) while the others keep running, as when a machine is lost.
Token authentication is off: the cluster listens on this machine only and lives for one
test session.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from atest.core.errors import ExternalError

NODE_ENV = {
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    # notice a lost node within ~2 s instead of the default ~30 s
    "RAY_health_check_initial_delay_ms": "1000",
    "RAY_health_check_period_ms": "500",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
}
START_TIMEOUT = 180


@dataclass
class LocalCluster:
    """Start with `start()`, grow with `add_node()`, always `stop()` (kills what it started)."""

    object_store_mb: int = 100
    address: str = ""
    temp_dir: str = ""
    groups: list[int] = field(default_factory=list)  # one process group per node, head first

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, **NODE_ENV}

    def start(self, cpus: int = 1) -> str:
        """The head node; returns the cluster address (HOST:PORT of its GCS)."""
        self.temp_dir = tempfile.mkdtemp(prefix="atr-", dir="/tmp")  # short: socket paths are limited
        port = _free_port()
        self._ray_start(
            ["--head", f"--port={port}", f"--temp-dir={self.temp_dir}", "--include-dashboard=false"], cpus
        )
        self.address = f"127.0.0.1:{port}"
        return self.address

    def add_node(self, cpus: int = 1) -> int:
        """Another node joining the head; returns its index (for `kill_node`)."""
        self._ray_start([f"--address={self.address}"], cpus)
        return len(self.groups) - 1

    def _ray_start(self, args: list[str], cpus: int) -> None:
        ray = Path(sys.executable).with_name("ray")
        command = [
            str(ray),
            "start",
            *args,
            f"--num-cpus={cpus}",
            "--num-gpus=0",
            f"--object-store-memory={self.object_store_mb * 1024 * 1024}",
            "--node-ip-address=127.0.0.1",
            "--disable-usage-stats",
        ]
        proc = subprocess.Popen(
            command,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.groups.append(proc.pid)  # its daemons stay in the session's process group
        try:
            out, _ = proc.communicate(timeout=START_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.stop()
            raise ExternalError(
                f"`ray start` did not finish within {START_TIMEOUT}s", "check `ray status`"
            ) from None
        if proc.returncode != 0:
            self.stop()
            raise ExternalError(f"`ray start` failed: {out.strip().splitlines()[-1:]}", "check the Ray logs")

    def kill_node(self, index: int) -> None:
        """SIGKILL one node (its raylet and every process it started), as a machine lost."""
        _kill(_members(self.groups[index]))

    def stop(self) -> None:
        doomed = [pid for pgid in self.groups for pid in _members(pgid)]
        _kill(doomed)
        self.groups = []
        time.sleep(0.2)
        if self.temp_dir:
            subprocess.run(["rm", "-rf", self.temp_dir], check=False)


def _members(pgid: int) -> list[int]:
    """The processes of a node: its process group, and every descendant (Ray puts each
    worker in a group of its own)."""
    parents: dict[int, int] = {}
    groups: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        groups[int(entry.name)] = int(fields[2])
    found = {pid for pid, group in groups.items() if group == pgid}
    grew = True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in found} - found
        found |= more
        grew = bool(more)
    return sorted(found)


def _kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
