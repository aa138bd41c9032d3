"""Sandbox throughput against the papers' naive runner, and against the bare fork floor.

Workload: realistic stdio programs and functional calls (accepted, wrong, crashing, and a
few looping ones), each run (a) through atest's fork-server executor and (b) the way the
reference code does it: one `subprocess.run([python3, file])` per execution with a wall
timeout, threads for parallelism; and, as an ablation, (c) the executor forking once per
execution (`max_batch=1`) instead of once per batch of inputs. Verdicts must agree. The
floor is bare fork()+_exit()+wait() from small processes, one per worker, on this machine.

    .venv/bin/python bench/sandbox.py                 # full workload
    .venv/bin/python bench/sandbox.py --repeat 5 --load   # flake check under a 2-core load

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
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
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

NAIVE_HARNESS = (
    "import json, sys\n{source}\n"
    "args = json.loads(sys.stdin.read())\n"
    "print(json.dumps(Solution().{fn}(*args)))\n"
)


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


def naive_one(job: Job, workdir: str) -> tuple[Status, object]:
    """One execution the way the reference code runs it."""
    program = job.program
    with tempfile.NamedTemporaryFile("w", suffix=".py", dir=workdir, delete=False) as f:
        if program.kind == "stdio":
            f.write(program.source)
            stdin = job.input
        else:
            f.write(NAIVE_HARNESS.format(source=program.source, fn=program.fn_name))
            stdin = json.dumps(job.input)
    try:
        proc = subprocess.run(
            [sys.executable, f.name],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=job.limits.wall_limit,
        )
    except subprocess.TimeoutExpired:
        return Status.TIME_LIMIT, None
    finally:
        os.unlink(f.name)
    if proc.returncode != 0:
        return Status.RUNTIME_ERROR, None
    if program.kind == "functional":
        return Status.OK, json.loads(proc.stdout)
    return Status.OK, proc.stdout


def run_naive(jobs: list[Job], workers: int) -> list[tuple[Status, object]]:
    with tempfile.TemporaryDirectory() as workdir, ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda job: naive_one(job, workdir), jobs))


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


def run_ours(
    jobs: list[Job], items: list[tuple[Job, object]], workers: int, max_batch: int
) -> tuple[float, list[str], float]:
    """One timed executor run: its seconds, its verdicts, and the workers' resident memory (MB)."""
    with get_executor(workers=workers, max_batch=max_batch) as executor:
        start = time.perf_counter()
        results = executor.run(jobs)
        seconds = time.perf_counter() - start
        worker_rss = sum(rss_mb(w.pid) for w in executor.provider.pool.workers)
    verdicts = [
        verdict(r.status, r.output, e, j.program.kind) for r, (j, e) in zip(results, items, strict=True)
    ]
    return seconds, verdicts, worker_rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stdio", type=int, default=2000)
    parser.add_argument("--functional", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--repeat", type=int, default=1, help="runs of our executor (verdicts must match)")
    parser.add_argument("--load", action="store_true", help="keep every core busy with another process")
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument(
        "--max-batch", type=int, default=MAX_BATCH, help="inputs of one program per forked child"
    )
    parser.add_argument(
        "--skip-per-execution", action="store_true", help="skip the ablation that forks once per execution"
    )
    args = parser.parse_args()

    items = workload(args.stdio, args.functional)
    jobs = [job for job, _ in items]
    loaders = (
        [multiprocessing.Process(target=burn, daemon=True) for _ in range(os.cpu_count() or 1)]
        if args.load
        else []
    )
    for p in loaders:
        p.start()
    runs, seconds = [], []
    try:
        for _ in range(args.repeat):
            elapsed, verdicts, worker_rss = run_ours(jobs, items, args.workers, args.max_batch)
            seconds.append(elapsed)
            runs.append(verdicts)
    finally:
        for p in loaders:
            p.terminate()
    ours_rate = len(jobs) / min(seconds)
    flake_free = all(run == runs[0] for run in runs)
    print(
        f"atest executor: {len(jobs)} executions, best of {args.repeat}: {min(seconds):.2f}s "
        f"= {ours_rate:.0f}/s; worker RSS {worker_rss:.0f} MB; identical verdicts over runs: {flake_free}",
        file=sys.stderr,
    )
    counts: dict[str, int] = {}
    for v in runs[0]:
        counts[v] = counts.get(v, 0) + 1
    print(f"verdicts: {counts}", file=sys.stderr)

    figures: dict[str, object] = {
        "executions": len(jobs),
        "workers": args.workers,
        "ours_per_second": round(ours_rate, 1),
        "worker_rss_mb": round(worker_rss, 1),
        "flake_free": flake_free,
        "repeats": args.repeat,
        "under_load": args.load,
    }
    if not args.skip_per_execution:
        single_seconds, same, _ = run_ours(jobs, items, args.workers, 1)
        print(
            f"atest executor forking once per execution: {single_seconds:.2f}s = "
            f"{len(jobs) / single_seconds:.0f}/s; verdicts identical: {same == runs[0]}",
            file=sys.stderr,
        )
        figures.update(
            fork_per_execution_per_second=round(len(jobs) / single_seconds, 1),
            fork_per_execution_agrees=same == runs[0],
        )
    if not args.skip_naive:
        start = time.perf_counter()
        naive = run_naive(jobs, args.workers)
        naive_seconds = time.perf_counter() - start
        naive_verdicts = [
            verdict(s, o, e, j.program.kind) for (s, o), (j, e) in zip(naive, items, strict=True)
        ]
        agree = naive_verdicts == runs[0]
        naive_rate = len(jobs) / naive_seconds
        print(
            f"naive subprocess.run: {naive_seconds:.2f}s = {naive_rate:.1f}/s; verdicts agree: {agree}",
            file=sys.stderr,
        )
        figures.update(
            naive_per_second=round(naive_rate, 1),
            ratio_vs_naive=round(ours_rate / naive_rate, 1),
            verdicts_agree=agree,
        )
    floor = fork_floor(args.workers)
    print(f"bare fork+exit+wait floor: {floor:.0f}/s", file=sys.stderr)
    figures.update(fork_floor_per_second=round(floor, 1), fork_floor_fraction=round(ours_rate / floor, 3))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
