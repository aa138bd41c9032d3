"""The run folder: ledger, refusal to overwrite, resume with overrides, complete checkpoints, metrics."""

from __future__ import annotations

import pytest

from atest.core.errors import InputError
from atest.core.training.config import load_config
from atest.core.training.run.run_dir import (
    RunDir,
    latest_checkpoint,
    remove_incomplete_checkpoints,
)


def new_run(tmp_path):
    return RunDir.create(tmp_path / "run", load_config("utrl", preset="cpu-smoke"))


def test_create_writes_config_and_ledger_and_refuses_a_used_folder(tmp_path):
    run = new_run(tmp_path)
    assert (run.root / "config.yaml").is_file() and (run.root / "run.json").is_file()
    with pytest.raises(InputError, match="--resume"):
        new_run(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        RunDir.create(other, load_config("utrl", preset="cpu-smoke"))


def test_phases_survive_a_resume_and_overrides_are_recorded(tmp_path):
    run = new_run(tmp_path)
    run.mark_done("iter1/opponents", opponents=12)
    again = RunDir.resume(run.root, ["utrl.test_steps=7"])
    assert again.is_done("iter1/opponents") and not again.is_done("iter1/test_train")
    assert again.phase_info("iter1/opponents")["opponents"] == 12
    assert again.config.utrl.test_steps == 7
    assert RunDir.resume(run.root).config.utrl.test_steps == 7  # the override is now the saved config
    history = [h["event"] for h in again._ledger["history"]]
    assert history == ["start", "resume"]


def test_resume_of_a_folder_without_a_run_is_refused(tmp_path):
    with pytest.raises(InputError, match="holds no run"):
        RunDir.resume(tmp_path)


def test_only_complete_checkpoints_count(tmp_path):
    ckpts = tmp_path / "checkpoints"
    for step, complete in ((1, True), (2, True), (3, False)):
        folder = ckpts / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        if complete:
            (folder / "trainer_state.json").write_text("{}")
    (ckpts / "runs").mkdir()
    assert latest_checkpoint(ckpts).name == "checkpoint-2"
    assert [p.name for p in remove_incomplete_checkpoints(ckpts)] == ["checkpoint-3"]
    assert sorted(p.name for p in ckpts.iterdir()) == ["checkpoint-1", "checkpoint-2", "runs"]
    assert latest_checkpoint(tmp_path / "missing") is None


def test_metrics_logged_again_after_a_resume_replace_the_killed_runs(tmp_path):
    run = new_run(tmp_path)
    with run.metrics_writer() as out:
        for step in (1, 2, 3):
            out.write({"phase": "p", "step": step, "reward": step})
        for step in (2, 3, 4):  # the resumed run repeats the steps after checkpoint-1
            out.write({"phase": "p", "step": step, "reward": 10 * step})
    rows = run.read_metrics()
    assert [(r["step"], r["reward"]) for r in rows] == [(1, 1), (2, 20), (3, 30), (4, 40)]
