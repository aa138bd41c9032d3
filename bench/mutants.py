"""Generating and classifying mutants of every LeetCode gold solution (issue 8: under 5 minutes).

Workload: all LeetCode tasks in ../shared/data, `--k` mutants each (default 20), classified on
every gold test through atest's fork-server executor (`classify_tasks`: gold runs, staged
early-stopping runs of the mutants, derived-input probes of the survivors). The machine may be
shared, so the load average is printed next to every time, and the CPU seconds spent (this
process and its sandbox workers) are printed as a load-independent figure.

Baseline: the same classification on the first `--naive-tasks` tasks, once with a fresh atest
executor and once with the naive runner the reference code uses: one `subprocess.run([python,
file])` per execution, a thread per worker, a wall-clock timeout of the same limits' watchdog
(2 x CPU limit + 1 s). The naive harness gets the same names the sandbox prelude provides.
Outcomes of the two runs are compared mutant by mutant.

    .venv/bin/python bench/mutants.py                  # all tasks, k=20, naive baseline on 6 tasks
    .venv/bin/python bench/mutants.py --limit 40 --skip-naive

The last line printed is one JSON object with the headline figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from atest.core.loaders import load_source
from atest.core.mutation import generate_mutants
from atest.core.mutation.classify import ClassifyOptions, Outcome, TaskMutants, classify_tasks
from atest.core.sandbox import Execution, Job, Status, get_executor
from atest.core.tasks import Task

LEETCODE = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "leetcode"
    / "LeetCodeDataset-v0.3.1-test.jsonl.gz"
)

# The sandbox prelude's names, as a header: star imports, then builtins restored over them
# (`operator.pow` and `math.pow` must not shadow `pow`).
NAIVE_HEADER = """\
from typing import *
from collections import *
from itertools import *
from functools import *
from heapq import *
from bisect import *
from string import *
from operator import *
from math import *
from builtins import *
import bisect, collections, copy, datetime, functools, heapq, itertools, json, math, operator
import os, random, re, string, sys, typing
inf = math.inf
try:
    from sortedcontainers import SortedDict, SortedList, SortedSet
except ImportError:
    pass
"""
NAIVE_CALL = """
import io as __io, json as __json, sys as __sys
__args = __json.loads(__sys.stdin.read())
__real, __sys.stdout = __sys.stdout, __io.StringIO()
__fn = getattr(Solution(), {fn!r}) if "Solution" in globals() and hasattr(Solution, {fn!r}) else globals()[{fn!r}]
__value = __fn(**__args) if isinstance(__args, dict) else __fn(*__args)
__sys.stdout = __real
print(__json.dumps(__value, default=lambda o: sorted(o) if isinstance(o, (set, frozenset)) else list(o)))
"""


class NaiveExecutor:
    """One fresh interpreter per execution, as the reference code runs programs."""

    def __init__(self, workers: int):
        self.workers = workers
        self.executed = 0
        self._dir = tempfile.TemporaryDirectory()

    def _one(self, job: Job) -> Execution:
        program = job.program
        with tempfile.NamedTemporaryFile("w", suffix=".py", dir=self._dir.name, delete=False) as f:
            f.write(NAIVE_HEADER + program.source)
            if program.kind == "functional":
                f.write(NAIVE_CALL.format(fn=program.fn_name))
        stdin = job.input if program.kind == "stdio" else json.dumps(job.input)
        try:
            proc = subprocess.run(
                [sys.executable, f.name],
                input=stdin,
                capture_output=True,
                text=True,
                timeout=job.limits.wall_limit,
            )
        except subprocess.TimeoutExpired:
            return Execution(Status.TIME_LIMIT, None)
        finally:
            os.unlink(f.name)
        if proc.returncode != 0:
            return Execution(Status.RUNTIME_ERROR, None, proc.stderr[-500:], proc.returncode)
        if program.kind == "stdio":
            return Execution(Status.OK, proc.stdout, exit_code=0)
        try:
            return Execution(Status.OK, json.loads(proc.stdout), exit_code=0)
        except json.JSONDecodeError:
            return Execution(Status.RUNTIME_ERROR, None, proc.stdout[-500:], 0)

    def run(self, jobs: Sequence[Job]) -> list[Execution]:
        self.executed += len(jobs)
        with ThreadPoolExecutor(self.workers) as pool:
            return list(pool.map(self._one, jobs))

    def close(self) -> None:
        self._dir.cleanup()


def load_avg() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_seconds() -> float:
    """CPU time of this process plus its waited-for children (the sandbox workers, once closed)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def outcome_counts(classified: list[TaskMutants]) -> dict[str, int]:
    counts = Counter(m.outcome.value for tm in classified for m in tm.mutants)
    counts.update(m.probe.value for tm in classified for m in tm.mutants if m.probe is not None)
    return dict(sorted(counts.items()))


def classify_ours(
    tasks: list[Task], opts: ClassifyOptions, workers: int
) -> tuple[list[TaskMutants], float, int]:
    with get_executor(workers=workers) as executor:
        start = time.perf_counter()
        classified = classify_tasks(tasks, executor, opts)
        return classified, time.perf_counter() - start, executor.executed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", default=str(LEETCODE), help="LeetCode JSONL(.gz) file")
    parser.add_argument("--k", type=int, default=20, help="mutants per task")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="only the first N tasks")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--naive-tasks", type=int, default=6, help="tasks in the naive-runner baseline")
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()

    tasks, problems = load_source("leetcode", args.path, None, args.limit)
    print(f"{len(tasks)} LeetCode tasks ({len(problems)} records skipped by the loader)", file=sys.stderr)
    opts = ClassifyOptions(k=args.k, seed=args.seed)

    start = time.perf_counter()
    n_generated = sum(
        len(generate_mutants(t.gold_solutions[0], args.k, args.seed, kind=t.kind, fn_name=t.fn_name))
        for t in tasks
    )
    generation_s = time.perf_counter() - start
    print(
        f"generation alone: {n_generated} mutants in {generation_s:.1f}s (load {load_avg()})", file=sys.stderr
    )

    load_before, cpu_before = load_avg(), cpu_seconds()
    classified, seconds, executions = classify_ours(tasks, opts, args.workers)
    cpu_used, load_after = cpu_seconds() - cpu_before, load_avg()
    n_mutants = sum(len(tm.mutants) for tm in classified)
    counts = outcome_counts(classified)
    detected = n_mutants - counts.get(Outcome.SURVIVED.value, 0)
    skipped = dict(Counter(tm.skipped for tm in classified if tm.skipped))
    print(
        f"generate + classify: {len(tasks)} tasks, {n_mutants} mutants, {executions} executions in "
        f"{seconds:.1f}s = {n_mutants / seconds:.1f} mutants/s, {executions / seconds:.0f} executions/s; "
        f"CPU {cpu_used:.0f}s; load avg (1/5/15 min) before {load_before}, after {load_after}",
        file=sys.stderr,
    )
    print(
        f"outcomes: {counts}; detected by gold tests {detected / n_mutants:.3f}; skipped {skipped}",
        file=sys.stderr,
    )

    figures: dict[str, object] = {
        "tasks": len(tasks),
        "k": args.k,
        "workers": args.workers,
        "mutants": n_mutants,
        "seconds": round(seconds, 1),
        "mutants_per_second": round(n_mutants / seconds, 1),
        "executions": executions,
        "cpu_seconds": round(cpu_used, 1),
        "generation_only_seconds": round(generation_s, 1),
        "outcomes": counts,
        "detected_fraction": round(detected / n_mutants, 4),
        "skipped": skipped,
        "load_before": load_before,
        "load_after": load_after,
        "under_5_minutes": seconds < 300,
    }

    if not args.skip_naive:
        subset = tasks[: args.naive_tasks]
        ours, ours_s, _ = classify_ours(subset, opts, args.workers)
        naive = NaiveExecutor(args.workers)
        try:
            start = time.perf_counter()
            theirs = classify_tasks(subset, naive, opts)
            naive_s = time.perf_counter() - start
        finally:
            naive.close()
        pairs = [
            (a.outcome, b.outcome)
            for x, y in zip(ours, theirs, strict=True)
            for a, b in zip(x.mutants, y.mutants, strict=True)
        ]
        agree = sum(a is b for a, b in pairs) / len(pairs)
        print(
            f"baseline on {len(subset)} tasks ({len(pairs)} mutants): atest {ours_s:.1f}s, naive subprocess "
            f"{naive_s:.1f}s ({naive.executed} executions) = {naive_s / ours_s:.1f}x slower; same outcome for "
            f"{agree:.3f} of mutants (naive: {outcome_counts(theirs)}); load now {load_avg()}",
            file=sys.stderr,
        )
        figures["baseline"] = {
            "kind": "naive subprocess per execution",
            "tasks": len(subset),
            "mutants": len(pairs),
            "ours_seconds": round(ours_s, 2),
            "naive_seconds": round(naive_s, 2),
            "speedup": round(naive_s / ours_s, 1),
            "outcome_agreement": round(agree, 4),
        }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
