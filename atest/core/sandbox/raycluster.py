"""The `ray` provider: one actor per Ray node, each holding that node's local fork-server pool.

ATGEN evaluates on Ray and verl trains on it; a GPU node has few cores per GPU, so the
executions of one step go to every node of the cluster. Each node runs the same
`LocalProvider` as a single machine does (same harness, same isolation), so a verdict does
not depend on the node. The driver groups a call's jobs by program (inputs of one program
share a forked child on the node), packs the groups into chunks, and hands the largest
chunks first to whichever node has room (two chunks queued per node): faster or bigger
nodes take more. A chunk whose node is lost (actor or node died) is run again on another
node; after `NODE_ATTEMPTS` losses its jobs come back as faults, which the executor
retries and finally reports (exit 3).

Every node needs atest installed in the same environment (the actor imports it). Without
an address a local Ray runtime is started for the executor's lifetime and stopped at
`close()`; with `auto` or `ray://...` an existing cluster is joined and left running.
"""

from __future__ import annotations

import logging
import math
import os
import socket
from collections import deque
from collections.abc import Sequence
from typing import Any

from atest.core.errors import ExternalError, InputError
from atest.core.sandbox.local import LocalProvider
from atest.core.sandbox.types import Execution, Fault, Job

log = logging.getLogger("atest.sandbox")

IN_FLIGHT = 2  # chunks queued on one node: one running, one ready to start
CHUNKS_PER_NODE = 4  # a call's jobs make about this many chunks per node
NODE_ATTEMPTS = 3  # nodes a chunk may be lost on before its jobs are faults
START_TIMEOUT = 120.0
PROBE_TIMEOUT = 10.0  # seconds to reach the address given before handing it to Ray  # seconds for a node's actor and its workers to start
LOCAL_OBJECT_STORE_MB = 200  # the runtime atest starts itself only moves jobs and results
_session = {"users": 0, "owned": False}  # Ray connects a process once; executors in it share that


class NodeSandbox:
    """The actor body: this node's fork-server pool, all of the cores Ray granted it."""

    def __init__(self, workers: int, isolation: str, max_batch: int):
        self.provider = LocalProvider(workers, isolation, max_batch)  # type: ignore[arg-type]

    def describe(self) -> dict[str, Any]:
        return {
            "layers": self.provider.layers,
            "workers": len(self.provider.pool.workers),
            "worker_pids": [w.pid for w in self.provider.pool.workers],
        }

    def run(self, jobs: list[Job]) -> list[Execution | Fault]:
        return self.provider.run(jobs)

    def close(self) -> None:
        self.provider.close()


def import_ray():
    try:
        import ray
    except ImportError:
        raise InputError(
            "--executor ray needs Ray, which is not installed",
            "pip install 'atest[ray]' (the README's test command installs it)",
        ) from None
    return ray


def _probe(address: str) -> None:
    """Fail fast on an address nothing listens at (Ray itself retries for minutes)."""
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if address == "auto" or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=PROBE_TIMEOUT).close()
    except OSError as exc:
        raise ExternalError(
            f"nothing answers at --ray-address {address}: {exc}",
            "start the cluster (`ray start --head`) or fix the address (auto, HOST:PORT, ray://HOST:10001)",
        ) from None


def plan(jobs: Sequence[Job], nodes: int) -> list[list[int]]:
    """Job indices in chunks of about len(jobs) / (CHUNKS_PER_NODE * nodes), largest first.

    Jobs of one program (and limits) stay together where they fit, so a node batches them
    into one forked child; a program with more inputs than a chunk holds is split.
    """
    groups: dict[tuple, list[int]] = {}
    for i, job in enumerate(jobs):
        groups.setdefault((job.program, job.limits), []).append(i)
    size = max(1, math.ceil(len(jobs) / (CHUNKS_PER_NODE * max(1, nodes))))
    pieces = [members[s : s + size] for members in groups.values() for s in range(0, len(members), size)]
    pieces.sort(key=len, reverse=True)
    chunks: list[list[int]] = []
    for piece in pieces:  # first fit, decreasing
        home = next((c for c in chunks if len(c) + len(piece) <= size), None)
        if home is None:
            chunks.append(list(piece))
        else:
            home.extend(piece)
    chunks.sort(key=len, reverse=True)
    return chunks


class RayProvider:
    """Runs jobs on every alive Ray node with CPUs, through one `NodeSandbox` actor per node."""

    name = "ray"

    def __init__(
        self,
        address: str | None,
        isolation: str = "auto",
        max_batch: int = 64,
        workers_per_node: int | None = None,
    ):
        self._ray = ray = import_ray()
        self.isolation = isolation
        self.max_batch = max_batch
        self.workers_per_node = workers_per_node
        self.started_runtime = False
        if not ray.is_initialized():
            self._connect(address)
            _session["owned"] = True
            self.started_runtime = not address
        _session["users"] += 1
        self._connected = True
        self._actors: dict[str, Any] = {}  # node id -> actor handle
        self._lost: set[str] = set()
        self.layers: list[str] = []
        try:
            self._refresh()
            if not self._actors:
                raise ExternalError(
                    "the Ray cluster has no node with a CPU to run the sandbox on",
                    "start nodes with --num-cpus at least 1, or check `ray status`",
                )
        except BaseException:
            self.close()
            raise

    def _connect(self, address: str | None) -> None:
        ray = self._ray
        if address:
            _probe(address)
        try:
            if address:
                ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
            else:
                ray.init(
                    num_cpus=os.cpu_count() or 1,
                    include_dashboard=False,
                    object_store_memory=LOCAL_OBJECT_STORE_MB * 1024 * 1024,
                    logging_level=logging.WARNING,
                    log_to_driver=False,
                )
        except ValueError as exc:
            if "ray[client]" in str(exc):
                raise InputError(
                    f"--ray-address {address} needs Ray Client, which is not installed",
                    "pip install 'ray[client]', or run on a cluster node with --ray-address auto",
                ) from exc
            raise self._unreachable(address, exc) from exc
        except (ConnectionError, RuntimeError) as exc:
            raise self._unreachable(address, exc) from exc

    @staticmethod
    def _unreachable(address: str | None, exc: Exception) -> ExternalError:
        where = f"the Ray cluster at {address}" if address else "a local Ray runtime"
        return ExternalError(
            f"could not connect to {where}: {exc}",
            "check --ray-address (auto, HOST:PORT or ray://HOST:10001) and `ray status`",
        )

    @property
    def nodes(self) -> list[str]:
        return list(self._actors)

    def describe(self) -> dict[str, dict[str, Any]]:
        """Each node's sandbox: its isolation layers, worker count and worker process ids."""
        ray = self._ray
        return dict(
            zip(self._actors, ray.get([a.describe.remote() for a in self._actors.values()]), strict=True)
        )

    def _refresh(self) -> None:
        """Start an actor on every alive node with CPUs that has none (and was never lost)."""
        ray = self._ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        remote = ray.remote(NodeSandbox)
        started: dict[str, Any] = {}
        for node in ray.nodes():
            node_id, cpus = node["NodeID"], node.get("Resources", {}).get("CPU", 0)
            if not node.get("Alive") or cpus < 1 or node_id in self._actors or node_id in self._lost:
                continue
            workers = self.workers_per_node or int(cpus)
            started[node_id] = remote.options(
                num_cpus=cpus,
                max_restarts=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
            ).remote(workers, self.isolation, self.max_batch)
        if not started:
            return
        probes = {actor.describe.remote(): node_id for node_id, actor in started.items()}
        ready, pending = ray.wait(list(probes), num_returns=len(probes), timeout=START_TIMEOUT)
        for ref in pending:
            node_id = probes[ref]
            log.warning("sandbox (ray): node %s did not start its sandbox in time; skipping it", node_id)
            ray.kill(started[node_id])
            self._lost.add(node_id)
        for ref in ready:
            node_id = probes[ref]
            try:
                info = ray.get(ref)
            except ray.exceptions.RayError as exc:
                cause = getattr(exc, "cause", None) or exc
                if isinstance(cause, ExternalError):
                    raise cause from None
                log.warning("sandbox (ray): node %s could not start its sandbox (%s)", node_id, exc)
                self._lost.add(node_id)
                continue
            self._actors[node_id] = started[node_id]
            self.layers = self.layers or info["layers"]
            if self.isolation != "none" and not info["layers"]:
                log.warning(
                    "sandbox (ray): node %s has no namespaces; its programs run with resource limits only",
                    node_id,
                )
            log.info("sandbox (ray): node %s runs %d workers", node_id, info["workers"])

    def run(self, jobs: Sequence[Job]) -> list[Execution | Fault]:
        if not jobs:
            return []
        try:
            return self._run(jobs)
        except (self._ray.exceptions.RayError, ConnectionError) as exc:  # the head or the driver's link
            raise ExternalError(
                f"lost the Ray cluster: {type(exc).__name__}: {exc}",
                "check `ray status` on the head node; finished results are cached with --cache-dir",
            ) from exc

    def _run(self, jobs: Sequence[Job]) -> list[Execution | Fault]:
        ray = self._ray
        self._refresh()
        chunks = plan(jobs, len(self._actors))
        results: list[Execution | Fault | None] = [None] * len(jobs)
        queue = deque(range(len(chunks)))
        losses = [0] * len(chunks)
        in_flight: dict[Any, tuple[str, int]] = {}
        while queue or in_flight:
            self._dispatch(queue, in_flight, chunks, jobs)
            if not in_flight:
                self._refresh()
                if not self._actors:
                    for index in queue:
                        for i in chunks[index]:
                            results[i] = Fault("no Ray node is left to run the sandbox on")
                    break
                continue
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in ready:
                node_id, index = in_flight.pop(ref)
                try:
                    answers = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    self._lose(node_id, exc)
                    losses[index] += 1
                    if losses[index] < NODE_ATTEMPTS:
                        queue.appendleft(index)
                        continue
                    answers = [Fault(f"Ray node lost {NODE_ATTEMPTS} times: {exc}")] * len(chunks[index])
                for i, answer in zip(chunks[index], answers, strict=True):
                    results[i] = answer
        return results  # type: ignore[return-value]

    def _dispatch(self, queue: deque, in_flight: dict, chunks: list[list[int]], jobs: Sequence[Job]) -> None:
        """Give every node with room the next (largest) chunk."""
        load = {node_id: 0 for node_id in self._actors}
        for node_id, _index in in_flight.values():
            if node_id in load:
                load[node_id] += 1
        for node_id in sorted(load, key=load.__getitem__):
            while queue and load[node_id] < IN_FLIGHT:
                index = queue.popleft()
                batch = [jobs[i] for i in chunks[index]]
                in_flight[self._actors[node_id].run.remote(batch)] = (node_id, index)
                load[node_id] += 1

    def _lose(self, node_id: str, exc: Exception) -> None:
        actor = self._actors.pop(node_id, None)
        if actor is None:
            return
        self._lost.add(node_id)
        log.warning("sandbox (ray): lost node %s (%s); its jobs run elsewhere", node_id, type(exc).__name__)
        try:
            self._ray.kill(actor)
        except Exception as kill_error:  # the node is gone already; nothing to stop
            log.debug("sandbox (ray): could not kill the actor on %s: %s", node_id, kill_error)

    def close(self) -> None:
        ray = self._ray
        actors = list(getattr(self, "_actors", {}).values())
        if actors and ray.is_initialized():
            ray.wait([a.close.remote() for a in actors], num_returns=len(actors), timeout=10)
            for actor in actors:
                ray.kill(actor)
        self._actors = {}
        if getattr(self, "_connected", False):
            self._connected = False
            _session["users"] -= 1
            if _session["users"] == 0 and _session["owned"] and ray.is_initialized():
                _session["owned"] = False
                ray.shutdown()
