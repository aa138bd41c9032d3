"""Evaluation cost: our batched, de-duplicated scoring vs a per-candidate loop, and a TACO estimate.

Workload: the tasks of `--tasks` (default: the bundled sample) with their candidate pools;
tasks without candidates get `--k` synthetic ones made from the gold solution (copies and
one-operator edits, so some pass, some fail, some crash). "Generated" tests are the first
12 gold tests with every fourth expected output altered (so some are invalid, as real
generated tests are).

Both sides run through the same sandbox in this process:
- baseline (the papers' scripts): best-of-N, then fidelity, each a separate pass with a
  fresh executor; one `executor.run` per candidate and test set;
- ours: `evaluate_bon` then `evaluate_fidelity` on one executor (large batches, shared cache).
Per-candidate pass counts must agree. The TACO-sized estimate (945 tasks x 4 models x 32
candidates x (12 generated + G gold tests)) divides that execution count by our measured
executions per second; G defaults to this workload's mean number of gold tests.

    .venv/bin/python bench/eval.py [--tasks FILE] [--k 8] [--workers 2]

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

from atest.core.checking import Test, as_tests, passes, program
from atest.core.metrics.evaluate import evaluate_bon, evaluate_fidelity
from atest.core.metrics.inputs import EvalInputs
from atest.core.sandbox import Job, Limits, get_executor
from atest.core.tasks import Task, read_tasks

TACO_TASKS, TACO_MODELS, TACO_CANDIDATES, TACO_GENERATED = 945, 4, 32, 12
EDITS = [
    (r"\+ 1\b", "+ 2"),
    (r"<=", "<"),
    (r"\b0\b", "1"),
    (r"\breturn\b", "return None or"),
    (r"\]", "+ 1]"),
]


def synthetic_candidates(task: Task, k: int) -> list[str]:
    """k programs near the gold: exact copies (distinct text) and one-edit variants."""
    gold = task.gold_solutions[0]
    out = []
    for i in range(k):
        pattern, repl = EDITS[i % len(EDITS)]
        variant = re.sub(pattern, repl, gold, count=1) if i % 2 else gold
        out.append(f"{variant}\n# candidate {i}\n")
    return out


def generated_tests(task: Task) -> list[Test]:
    tests = []
    for i, t in enumerate(as_tests(task.gold_tests[:TACO_GENERATED])):
        out = t.output
        if i % 4 == 3:
            out = out + "0" if isinstance(out, str) else [out]
        tests.append(Test(t.input, out))
    return tests


def build_inputs(path: Path, k: int) -> EvalInputs:
    tasks, _ = read_tasks(path)
    tasks = [t for t in tasks if t.gold_tests and t.gold_solutions]
    for t in tasks:
        if not any(t.candidates.values()):
            t.candidates = {
                "synthetic-a": synthetic_candidates(t, k),
                "synthetic-b": synthetic_candidates(t, k)[::-1],
            }
    models = sorted({m for t in tasks for m in t.candidates})
    tasks = [t for t in tasks if all(t.candidates.get(m) for m in models)]
    return EvalInputs(
        tasks=tasks, tests={t.task_id: generated_tests(t) for t in tasks}, models=models, tests_source="bench"
    )


def baseline(inputs: EvalInputs, workers: int, limits: Limits) -> tuple[dict, int, float]:
    """One run per candidate and test set, each phase on a fresh executor, as the papers' scripts do."""
    counts: dict = {}
    submitted = 0
    start = time.perf_counter()
    for phase in ("bon", "fidelity"):
        with get_executor(workers=workers) as ex:
            for task in inputs.tasks:
                for model in inputs.models:
                    for i, code in enumerate(task.candidates[model]):
                        candidate = program(task, code)
                        row = []
                        for tests in (inputs.tests[task.task_id], as_tests(task.gold_tests)):
                            results = ex.run([Job(candidate, t.input, limits) for t in tests])
                            submitted += len(tests)
                            row.append(
                                sum(
                                    passes(r, test=t, kind=task.kind)
                                    for r, t in zip(results, tests, strict=True)
                                )
                            )
                        counts[(phase, task.task_id, model, i)] = tuple(row)
    return counts, submitted, time.perf_counter() - start


def ours(inputs: EvalInputs, workers: int, limits: Limits) -> tuple[dict, int, float, float, float]:
    start = time.perf_counter()
    with get_executor(workers=workers) as ex:
        bon = evaluate_bon(
            inputs, ex, n=None, ns=(), rule="expected", drop_invalid=False, limits=limits, seed=0
        )
        fid = evaluate_fidelity(inputs, ex, n=None, drop_invalid=False, limits=limits, seed=0)
    wall = time.perf_counter() - start
    counts = {}
    for c in bon.outcome.counts:
        for i, (p, g) in enumerate(zip(c.passed, c.gold_passed, strict=True)):
            counts[(c.task_id, c.model, i)] = (p, g)
    n_exec = bon.outcome.n_executions  # fidelity re-uses them from the executor cache
    return counts, n_exec, wall, bon.result.accuracy, fid.result.fidelity


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--tasks", type=Path, default=Path(__file__).parent.parent / "atest/data/sample.jsonl"
    )
    parser.add_argument(
        "--k", type=int, default=8, help="synthetic candidates per model for tasks without any"
    )
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument(
        "--gold-tests", type=float, default=None, help="gold tests per TACO task (default: measured)"
    )
    args = parser.parse_args()
    limits = Limits(cpu_seconds=1.0)
    inputs = build_inputs(args.tasks, args.k)
    n_cand = sum(len(t.candidates[m]) for t in inputs.tasks for m in inputs.models)
    mean_gold = sum(len(t.gold_tests) for t in inputs.tasks) / len(inputs.tasks)
    print(f"workload: {len(inputs.tasks)} tasks, {len(inputs.models)} models, {n_cand} candidates, "
          f"{mean_gold:.1f} gold tests/task")  # fmt: skip

    base_counts, submitted, base_wall = baseline(inputs, args.workers, limits)
    our_counts, n_exec, our_wall, accuracy, fidelity = ours(inputs, args.workers, limits)
    agree = all(base_counts[("bon", *key)] == value for key, value in our_counts.items())
    rate = n_exec / our_wall
    gold = args.gold_tests if args.gold_tests is not None else mean_gold
    taco_exec = TACO_TASKS * TACO_MODELS * TACO_CANDIDATES * (TACO_GENERATED + gold)
    print(f"baseline: {submitted} executions submitted in {base_wall:.1f} s")
    print(
        f"ours:     {n_exec} distinct executions in {our_wall:.1f} s ({rate:.0f}/s); bon {accuracy:.4f} fidelity {fidelity:.4f}"
    )
    print(
        f"TACO-sized bon+fidelity ({taco_exec:.0f} executions at {gold:.0f} gold tests/task): ~{taco_exec / rate / 60:.0f} min"
    )
    print(json.dumps({
        "speedup_vs_baseline": base_wall / our_wall,
        "counts_agree": agree,
        "baseline_seconds": base_wall,
        "ours_seconds": our_wall,
        "executions_baseline": submitted,
        "executions_ours": n_exec,
        "executions_per_second": rate,
        "taco_executions": taco_exec,
        "taco_estimate_minutes": taco_exec / rate / 60,
        "workload_tasks": len(inputs.tasks),
        "workload_candidates": n_cand,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
