"""Sandbox throughput against the papers' naive runner, the bare fork floor, and through Ray.

Workload: realistic stdio programs and functional calls (accepted, wrong, crashing, and a
few looping ones), each run (a) through atest's fork-server executor (the `local`
provider) and (b) the way the reference code does it, through the `subprocess` provider:
one fresh interpreter per execution with a wall timeout, threads for parallelism; and, as
an ablation, (c) the executor forking once per execution (`max_batch=1`) instead of once
per batch of inputs. Verdicts must agree. The floor is bare fork()+_exit()+wait() from
small processes, one per worker, on this machine. With `--executor ray` the workload also
runs through the `ray` provider (a local Ray runtime, or `--ray-address`), against local;
`--ray-nodes` then measures a real cluster of one, then two, 1-CPU nodes on this machine.

    .venv/bin/python bench/sandbox.py                 # full workload
    .venv/bin/python bench/sandbox.py --repeat 5 --load   # flake check under a 2-core load
    .venv/bin/python bench/sandbox.py --executor ray --ray-nodes --skip-naive --skip-per-execution

The last line printed is one JSON object with the headline figures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from atest.core.sandbox import Job, Limits, Program, Status, get_executor, outputs_match
from atest.core.sandbox.forkserver import MAX_BATCH

LIMITS = Limits(cpu_seconds=0.25)

STDIO_PROGRAMS = {
    "accepted": "n = int(input())\na = list(map(int, input().split()))\nprint(sum(sorted(a)[-3:]), max(a))\n",
    "accepted_dp": (
        "n = int(input())\na = list(map(int, input().split()))\nbest = cur = a[0]\n"
        "for x in a[1:]:\n    cur = max(x, cur + x)\n    best = max(best, cur)\nprint(sum(sorted(a)[-3:]), max(a))\n"
    ),
    "wrong": "n = int(input())\na = list(map(int, input().split()))\nprint(sum(sorted(a)[-2:]), max(a))\n",
    "crash": "n = int(input())\na = list(map(int, input().split()))\nprint(a[n])\n",
}
FUNCTIONAL_PROGRAMS = {
    "accepted": (
        "class Solution:\n    def twoSum(self, nums, target):\n        seen = {}\n"
        "        for i, x in enumerate(nums):\n            if target - x in seen:\n"
        "                return [seen[target - x], i]\n            seen[x] = i\n"
    ),
    "wrong": (
        "class Solution:\n    def twoSum(self, nums, target):\n        for i in range(len(nums)):\n"
        "            for j in range(i, len(nums)):\n                if nums[i] + nums[j] == target:\n"
        "                    return [i, j]\n"
    ),
    "crash": "class Solution:\n    def twoSum(self, nums, target):\n        return [nums.index(target), 0]\n",
}
LOOP = "while True:\n    pass\n"


def workload(n_stdio: int, n_functional: int, seed: int = 0) -> list[tuple[Job, object]]:
    rng = random.Random(seed)
    items: list[tuple[Job, object]] = []
    for i in range(n_stdio):
        values = [rng.randint(-1000, 1000) for _ in range(rng.randint(3, 60))]
        stdin = f"{len(values)}\n{' '.join(map(str, values))}\n"
        expected = f"{sum(sorted(values)[-3:])} {max(values)}\n"
        name = LOOP if i % 500 == 499 else rng.choice(list(STDIO_PROGRAMS.values()))
        items.append((Job(Program(name, "stdio"), stdin, LIMITS), expected))
    for _ in range(n_functional):
        nums = rng.sample(range(-500, 500), rng.randint(2, 40))
        i, j = sorted(rng.sample(range(len(nums)), 2))
        source = rng.choice(list(FUNCTIONAL_PROGRAMS.values()))
        job = Job(Program(source, "functional", "twoSum"), [nums, nums[i] + nums[j]], LIMITS)
        items.append((job, None))
    return items


def verdict(status: Status, output, expected, kind: str) -> str:
    if status is not Status.OK:
        return status.value
    if expected is None:
        return "ok"
    return "accepted" if outputs_match(kind, expected, output) else "wrong_answer"


def fork_floor(workers: int, n: int = 3000) -> float:
    """Executions per second if each worker did nothing but fork, exit and wait."""
    code = f"import os\nfor _ in range({n}):\n    pid = os.fork()\n    if pid == 0: os._exit(0)\n    os.waitpid(pid, 0)\n"
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-I", "-S", "-c", code]) for _ in range(workers)]
    for p in procs:
        p.wait()
    return workers * n / (time.perf_counter() - start)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def burn() -> None:
    while True:
        pass


@dataclass
class Run:
    seconds: float
    verdicts: list[str]
    worker_rss_mb: float  # the local provider's workers only
    driver_cpu: float  # CPU seconds of this process (supervisor threads, Ray driver) during the run


def run_ours(
    jobs: list[Job],
    items: list[tuple[Job, object]],
    workers: int | None,
    max_batch: int = MAX_BATCH,
    executor: str = "local",
    ray_address: str | None = None,
) -> Run:
    """One timed run on a fresh executor (nothing cached) of the given provider."""
    with get_executor(workers=workers, max_batch=max_batch, executor=executor, ray_address=ray_address) as ex:
        cpu, start = time.process_time(), time.perf_counter()
        results = ex.run(jobs)
        seconds, driver_cpu = time.perf_counter() - start, time.process_time() - cpu
        pool = getattr(ex.provider, "pool", None)
        worker_rss = sum(rss_mb(w.pid) for w in pool.workers) if pool else 0.0
    verdicts = [
        verdict(r.status, r.output, e, j.program.kind) for r, (j, e) in zip(results, items, strict=True)
    ]
    return Run(seconds, verdicts, worker_rss, driver_cpu)


def ray_figures(jobs: list[Job], items: list[tuple[Job, object]], local: Run, args) -> dict[str, object]:
    """Ray against local on this machine, and how Ray's throughput grows with nodes."""
    ray_run = run_ours(jobs, items, None, args.max_batch, "ray", args.ray_address)
    rate, local_rate = len(jobs) / ray_run.seconds, len(jobs) / local.seconds
    print(
        f"ray executor ({args.ray_address or 'local runtime'}): {ray_run.seconds:.2f}s = {rate:.0f}/s, "
        f"{rate / local_rate:.2f} of local; driver CPU {1000 * ray_run.driver_cpu / len(jobs):.3f} ms "
        f"per execution; verdicts agree: {ray_run.verdicts == local.verdicts}",
        file=sys.stderr,
    )
    figures: dict[str, object] = {
        "ray_per_second": round(rate, 1),
        "ray_vs_local": round(rate / local_rate, 3),
        "ray_verdicts_agree": ray_run.verdicts == local.verdicts,
        "ray_driver_cpu_ms_per_execution": round(1000 * ray_run.driver_cpu / len(jobs), 4),
        "ray_driver_bound_per_second": round(len(jobs) / max(ray_run.driver_cpu, 1e-9)),
    }
    if args.ray_nodes:
        figures.update(node_growth(jobs, items, local, args))
    return figures


def node_growth(jobs: list[Job], items: list[tuple[Job, object]], local: Run, args) -> dict[str, object]:
    """Throughput on a real 1-node and then 2-node cluster of 1-CPU nodes on this machine."""
    from atest.core.sandbox.raylocal import LocalCluster

    cluster = LocalCluster()
    rates = []
    try:
        address = cluster.start(cpus=1)
        for nodes in (1, 2):
            if nodes == 2:
                cluster.add_node(cpus=1)
            run = run_ours(jobs, items, None, args.max_batch, "ray", address)
            rates.append(len(jobs) / run.seconds)
            print(
                f"ray, {nodes} node(s) of 1 CPU: {run.seconds:.2f}s = {rates[-1]:.0f}/s; "
                f"verdicts agree: {run.verdicts == local.verdicts}",
                file=sys.stderr,
            )
    finally:
        cluster.stop()
    return {
        "ray_1_node_per_second": round(rates[0], 1),
        "ray_2_nodes_per_second": round(rates[1], 1),
        "ray_node_growth": round(rates[1] / rates[0], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stdio", type=int, default=2000)
    parser.add_argument("--functional", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--repeat", type=int, default=1, help="runs of our executor (verdicts must match)")
    parser.add_argument("--load", action="store_true", help="keep every core busy with another process")
    parser.add_argument("--skip-naive", action="store_true", help="skip the subprocess reference")
    parser.add_argument(
        "--max-batch", type=int, default=MAX_BATCH, help="inputs of one program per forked child"
    )
    parser.add_argument(
        "--skip-per-execution", action="store_true", help="skip the ablation that forks once per execution"
    )
    parser.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="ray: also run through Ray, against local",
    )
    parser.add_argument("--ray-address", default=None, help="an existing cluster (default: a local runtime)")
    parser.add_argument(
        "--ray-nodes",
        action="store_true",
        help="also measure a real 1-node, then 2-node cluster (1 CPU each)",
    )
    args = parser.parse_args()
    if args.ray_nodes:  # the bench's clusters run without token auth; Ray keeps one auth mode per process
        os.environ["RAY_AUTH_MODE"] = "disabled"

    items = workload(args.stdio, args.functional)
    jobs = [job for job, _ in items]
    loaders = (
        [multiprocessing.Process(target=burn, daemon=True) for _ in range(os.cpu_count() or 1)]
        if args.load
        else []
    )
    for p in loaders:
        p.start()
    runs: list[Run] = []
    try:
        for _ in range(args.repeat):
            runs.append(run_ours(jobs, items, args.workers, args.max_batch))
    finally:
        for p in loaders:
            p.terminate()
    best = min(runs, key=lambda run: run.seconds)
    ours_rate = len(jobs) / best.seconds
    flake_free = all(run.verdicts == runs[0].verdicts for run in runs)
    print(
        f"atest executor: {len(jobs)} executions, best of {args.repeat}: {best.seconds:.2f}s "
        f"= {ours_rate:.0f}/s; worker RSS {best.worker_rss_mb:.0f} MB; identical verdicts over runs: "
        f"{flake_free}",
        file=sys.stderr,
    )
    counts: dict[str, int] = {}
    for v in runs[0].verdicts:
        counts[v] = counts.get(v, 0) + 1
    print(f"verdicts: {counts}", file=sys.stderr)

    figures: dict[str, object] = {
        "executions": len(jobs),
        "workers": args.workers,
        "ours_per_second": round(ours_rate, 1),
        "worker_rss_mb": round(best.worker_rss_mb, 1),
        "driver_cpu_ms_per_execution": round(1000 * best.driver_cpu / len(jobs), 4),
        "flake_free": flake_free,
        "repeats": args.repeat,
        "under_load": args.load,
    }
    if not args.skip_per_execution:
        single = run_ours(jobs, items, args.workers, 1)
        same = single.verdicts == runs[0].verdicts
        print(
            f"atest executor forking once per execution: {single.seconds:.2f}s = "
            f"{len(jobs) / single.seconds:.0f}/s; verdicts identical: {same}",
            file=sys.stderr,
        )
        figures.update(
            fork_per_execution_per_second=round(len(jobs) / single.seconds, 1),
            fork_per_execution_agrees=same,
        )
    if not args.skip_naive:
        naive = run_ours(jobs, items, args.workers, executor="subprocess")
        agree = naive.verdicts == runs[0].verdicts
        naive_rate = len(jobs) / naive.seconds
        print(
            f"subprocess provider (one interpreter per run, the reference): {naive.seconds:.2f}s = "
            f"{naive_rate:.1f}/s; verdicts agree: {agree}",
            file=sys.stderr,
        )
        figures.update(
            naive_per_second=round(naive_rate, 1),
            ratio_vs_naive=round(ours_rate / naive_rate, 1),
            verdicts_agree=agree,
        )
    if args.executor == "ray":
        figures.update(ray_figures(jobs, items, best, args))
    floor = fork_floor(args.workers)
    print(f"bare fork+exit+wait floor: {floor:.0f}/s", file=sys.stderr)
    figures.update(fork_floor_per_second=round(floor, 1), fork_floor_fraction=round(ours_rate / floor, 3))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
