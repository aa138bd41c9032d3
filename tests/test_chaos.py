"""The short version of `bench/chaos.py`, run in CI: kills at random moments, during a
checkpoint write and between phases, each followed by --resume, lose nothing.

The full run (every command, 20 kills each, torchrun included) is the bench itself; its
figures are in docs/training.md ("Resume").
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def chaos(tmp_path: Path, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "chaos.py"), "--workdir", str(tmp_path), "--json", *args],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.stdout, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.mark.slow
def test_atgen_and_gen_tests_survive_kills_at_any_moment(tmp_path):
    report = chaos(tmp_path, "--commands", "atgen,gen-tests", "--kills", "2", "--set", "atgen.max_steps=2")
    atgen, gen = report["commands"]
    for outcome in (atgen, gen):
        assert outcome["problems"] == [], outcome
        assert outcome["rows_missing"] == outcome["rows_duplicated"] == 0
    assert atgen["steps_same"] is True and atgen["finals_ok"] and atgen["checkpoints_loaded"] >= 1
    assert sum(atgen["kills"].values()) + atgen["finished_before_kill"] >= 1
    assert gen["files_identical"] == gen["files_compared"] == 1  # same seeds: the very same rows
    assert report["ok"]


def bench_module():
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import chaos as bench
    finally:
        sys.path.remove(str(ROOT / "bench"))
    return bench


def test_the_checkpoint_watch_sees_a_write_begin_in_the_run_folder_only(tmp_path):
    """The checkpoint kill's trigger: a checkpoint folder created at any depth of the run folder,
    which may not exist yet when the watch starts; not the reference run's beside it, not a
    folder of another name, not a killed attempt's unfinished checkpoint already there."""
    bench = bench_module()
    out = tmp_path / "chaos"
    (tmp_path / "reference" / "checkpoints").mkdir(parents=True)
    watch = bench.CheckpointWatch(out)
    try:
        assert watch.wait(0.05) is None
        (tmp_path / "reference" / "checkpoints" / "checkpoint-1").mkdir()
        phase = out / "iter1" / "test_train" / "checkpoints"
        phase.mkdir(parents=True)
        (phase / "other").mkdir()
        assert all(watch.wait(0.05) is None for _ in range(5))
        (phase / "checkpoint-2").mkdir()
        assert watch.wait(1.0) == phase / "checkpoint-2"
    finally:
        watch.close()
    again = bench.CheckpointWatch(out)  # checkpoint-2, unfinished, is there before it starts
    try:
        assert again.wait(0.05) is None
        (phase / "checkpoint-3").mkdir()
        assert again.wait(1.0) == phase / "checkpoint-3"
    finally:
        again.close()


def test_the_checks_catch_a_lost_and_a_duplicated_row(tmp_path):
    """The comparison itself can fail: a row dropped and one written twice are both found."""
    bench = bench_module()
    ref, got = tmp_path / "ref", tmp_path / "got"
    for folder in (ref, got):
        (folder / "gen").mkdir(parents=True)
    rows = [{"task_id": f"t{i}", "responses": [str(i)]} for i in range(4)]
    (ref / "gen" / "tests.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    damaged = [rows[0], rows[1], rows[1], rows[3]]
    (got / "gen" / "tests.jsonl").write_text("".join(json.dumps(r) + "\n" for r in damaged) + '{"task_id": ')
    metrics = [{"phase": "p", "step": s} for s in (1, 2)]
    (ref / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    (got / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics[:1] * 2))
    outcome = bench.Outcome("synthetic")
    bench.compare_files(ref, got, outcome)
    assert (outcome.rows_missing, outcome.rows_duplicated, outcome.steps_same) == (1, 1, False)
    assert outcome.metrics_superseded == 1 and len(outcome.problems) == 3


def test_a_metrics_line_torn_by_a_kill_is_cut_before_the_resume_appends(tmp_path):
    """A kill in the middle of a metrics row: the resumed run's rows must not be glued to it
    (which made every later read stop there and truncate the file, losing those steps)."""
    from atest.core.training.config import load_config
    from atest.core.training.run.run_dir import RunDir

    run = RunDir.create(tmp_path / "run", load_config("utrl", preset="cpu-smoke"))
    with run.metrics_writer() as writer:
        writer.write({"phase": "p", "step": 1})
    with (run.root / "metrics.jsonl").open("a") as f:
        f.write('{"phase": "p", "st')  # the killed process's last, torn, row
    resumed = RunDir(run.root, run.config, run.ledger)  # as --resume reopens it (without TRL's import)
    with resumed.metrics_writer() as writer:
        writer.write({"phase": "p", "step": 2})
        writer.write({"phase": "p", "step": 3})
    assert [row["step"] for row in resumed.read_metrics()] == [1, 2, 3]
    assert (run.root / "metrics.jsonl").read_text().count("\n") == 3
