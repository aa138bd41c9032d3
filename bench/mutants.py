"""Generating and classifying mutants of every LeetCode gold solution (issue 8: under 5 minutes).

Workload: all LeetCode tasks in ../shared/data, `--k` mutants each (default 20), classified on
every gold test through atest's fork-server executor (`classify_tasks`: gold runs, staged
early-stopping runs of the mutants, derived-input probes of the survivors). The machine may be
shared, so the load average is printed next to every time, and the CPU seconds spent (this
process and its sandbox workers) are printed as a load-independent figure.

Baseline: the same classification on the first `--naive-tasks` tasks, once with a fresh atest
executor and once with the runner the reference code uses, atest's `subprocess` provider: one
fresh interpreter per execution, a thread per worker, a wall-clock timeout of the same limits'
watchdog (2 x CPU limit + 1 s), and the sandbox's own harness (prelude, call convention).
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
import sys
import time
from collections import Counter
from pathlib import Path

from atest.core.loaders import load_source
from atest.core.mutation import generate_mutants
from atest.core.mutation.classify import ClassifyOptions, Outcome, TaskMutants, classify_tasks
from atest.core.sandbox import get_executor
from atest.core.tasks import Task

LEETCODE = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "leetcode"
    / "LeetCodeDataset-v0.3.1-test.jsonl.gz"
)


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
        with get_executor(workers=args.workers, executor="subprocess") as naive:
            start = time.perf_counter()
            theirs = classify_tasks(subset, naive, opts)
            naive_s = time.perf_counter() - start
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
