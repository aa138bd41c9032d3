"""Wall time of UTRL's generation phases on one process against two (`torchrun`), side by side.

The generation phases (`iter<i>/opponents`, `iter<i>/gen_tests`: sample, then check in the
sandbox) are shared out among the processes of a launch; this measures what that buys. Both
runs are `atest train --mode utrl --preset cpu-smoke` with the same settings, the one-process
run first, then the two-process one (`torchrun --standalone --nproc_per_node 2`), `--repeat`
times; each phase's seconds come from the ledger (`run.json`: from the phase's start to its
rows being written, model loading included). Training phases run too (the loop needs them)
but are not timed; by default they are one step each, to keep the bench short.

    nice -n 10 .venv/bin/python bench/train_processes.py
    nice -n 10 .venv/bin/python bench/train_processes.py --set max_tasks=8 --repeat 2

The last line printed is one JSON object: seconds per process count (median over repeats),
and `ratio` = two processes / one process (below 1: two are faster).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GENERATION_PHASES = ("opponents", "gen_tests")
SHORT_TRAINING = ["utrl.test_steps=1", "utrl.code_steps=1"]


def train_command(processes: int, out: Path, overrides: list[str]) -> list[str]:
    launcher = (
        [sys.executable, "-m", "atest"]
        if processes == 1
        else [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", "-m", "atest"]
    )  # fmt: skip
    sets = [arg for item in overrides for arg in ("--set", item)]
    return [*launcher, "train", "--mode", "utrl", "--preset", "cpu-smoke", "--out", str(out), *sets]


def generation_seconds(out: Path) -> dict[str, float]:
    """Seconds of each generation phase, from the run's ledger."""
    ledger = json.loads((out / "run.json").read_text())
    return {
        name: info["seconds"]
        for name, info in ledger["phases"].items()
        if name.split("/")[-1] in GENERATION_PHASES
    }


def one_run(processes: int, root: Path, overrides: list[str]) -> dict[str, float]:
    out = root / f"run-{processes}p-{time.monotonic_ns()}"
    start = time.perf_counter()
    proc = subprocess.run(train_command(processes, out, overrides), capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{processes}-process run failed:\n{proc.stderr[-3000:]}")
    phases = generation_seconds(out)
    print(
        f"{processes} process(es): generation {sum(phases.values()):.1f}s "
        + " ".join(f"{k} {v:.1f}s" for k, v in phases.items())
        + f" (whole run {time.perf_counter() - start:.0f}s)",
        file=sys.stderr,
    )
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="pairs of runs (median reported)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], help="config override, repeatable"
    )
    parser.add_argument(
        "--full-training", action="store_true", help="keep the preset's training steps (default: one each)"
    )
    args = parser.parse_args()
    overrides = ([] if args.full_training else SHORT_TRAINING) + args.overrides
    totals: dict[int, list[float]] = {1: [], 2: []}
    phases: dict[int, list[dict[str, float]]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory(prefix="atest-bench-procs-") as tmp:
        for _ in range(args.repeat):
            for processes in (1, 2):
                seconds = one_run(processes, Path(tmp), overrides)
                phases[processes].append(seconds)
                totals[processes].append(sum(seconds.values()))
    one, two = statistics.median(totals[1]), statistics.median(totals[2])
    result = {
        "generation_seconds_1p": round(one, 2),
        "generation_seconds_2p": round(two, 2),
        "ratio": round(two / one, 3),
        "per_phase_1p": {k: round(statistics.median(p[k] for p in phases[1]), 2) for k in phases[1][0]},
        "per_phase_2p": {k: round(statistics.median(p[k] for p in phases[2]), 2) for k in phases[2][0]},
        "repeat": args.repeat,
        "overrides": overrides,
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
