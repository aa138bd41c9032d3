"""`atest reproduce` end to end: the cpu-small study made tiny, killed mid-run, resumed, reported."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TINY = [
    "atgen.model=tiny-random",
    "atgen.models=[base,warmup,sft,atgen-static]",
    "data.pool.sizes.train=3",
    "data.pool.sizes.val=1",  # capped splits keep one task of each family they hold
    "data.pool.sizes.heldout-family=2",
    "data.pool.sizes.heldout-instance=0",
    "data.hard=null",
    "data.external=null",
    "data.mutants=2",
    "warmup.steps=1",
    "train.steps=2",
    "train.eval_steps=1",
    "train.max_completion_length=24",
    "eval.max_new_tokens=24",
    "eval.mutation_k=2",
    "eval.resamples=200",
]


def _args(out: Path) -> list[str]:
    sets = [a for s in TINY for a in ("--set", s)]
    return [
        sys.executable,
        "-m",
        "atest",
        "reproduce",
        "atgen",
        "--preset",
        "cpu-small",
        *sets,
        "--out",
        str(out),
    ]


@pytest.mark.slow
def test_tiny_cpu_small_study_survives_a_kill_and_reports(tmp_path):
    out = tmp_path / "study"
    # Run until the RL run has started, then SIGKILL the whole process group mid-training.
    log = tmp_path / "first-run.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen(_args(out), stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
    marker = out / "runs" / "atgen-static" / "run.json"
    deadline = time.monotonic() + 1500
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert marker.exists(), f"the RL run never started: {log.read_text()[-3000:]}"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = {p.stem for p in (out / "results").glob("*.json")}
    assert "warmup" in done_before and "train-atgen-static" not in done_before

    again = subprocess.run([*_args(out), "--json"], capture_output=True, text=True, timeout=1800)
    assert again.returncode == 0, again.stderr[-3000:]
    summary = json.loads(again.stdout)
    results = json.loads((out / "results.json").read_text())
    assert summary["heldout"] == results["heldout"]
    resumed = {c["name"] for c in results["commands"] if c["resumed"]}
    assert done_before <= resumed  # nothing that finished before the kill ran twice
    assert "atest train --resume" not in " ".join(c["command"] for c in results["commands"])  # shown as typed
    events = [h["event"] for h in json.loads(marker.read_text())["history"]]
    assert events[:2] == ["start", "resume"]  # the train run continued (`train --resume`), not restarted

    assert set(results["models"]) == {"base", "warmup", "sft", "atgen-static"}
    for name in ("warmup", "sft", "atgen-static"):
        assert (Path(results["models"][name]) / "config.json").is_file()
    flat = results["heldout"]["atgen-static"]
    for metric in ("io_accuracy", "attack_rate", "input_attack_rate", "bon", "mutation_score"):
        assert metric in flat and f"{metric}_ci95" in flat
    assert 0.0 <= flat["attack_rate"] <= 1.0
    assert results["heldout"]["heldout-family"]["warmup"]["attack_rate"] is not None
    pair = results["paired"]["atgen-static-vs-warmup"]["attack_rate"]
    assert {"diff", "ci95", "verdict"} <= set(pair)
    assert results["validation"]["atgen-static"], "the RL run validated on the val split"

    report = (out / "report.md").read_text()
    lines = report.splitlines()
    assert lines[2] == "## What the numbers support"
    findings = report.split("## What they do not support")[0]
    assert any(line.startswith("- atgen-static") and "warmup" in line for line in findings.splitlines())
    assert "## What they do not support" in report and "The paper's own numbers" in report
    assert (out / "metrics.png").stat().st_size > 5_000

    third = subprocess.run([*_args(out), "--json"], capture_output=True, text=True, timeout=600)
    assert third.returncode == 0
    final = json.loads((out / "results.json").read_text())
    assert all(c["resumed"] for c in final["commands"])  # a finished study reruns nothing
