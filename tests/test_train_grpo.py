"""One GRPO phase on the tiny model: TRL wiring, step timing, live rows, checkpoint state, resume."""

from __future__ import annotations

import json
import shutil

import pytest

from atest.core.errors import InputError
from atest.core.training.config import load_config
from atest.core.training.run.run_dir import latest_checkpoint
from atest.core.training.trainer.grpo import (
    EXTRA_STATE_NAME,
    build_grpo_config,
    check_device,
    load_policy,
    read_extra_state,
    run_grpo_phase,
)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """As the cpu-smoke presets do (config key `threads`): a tiny model on a shared CPU is many
    times slower with spinning intra-op threads than with one."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class CountingHooks:
    """Rewrites each row at generation time, the way ATGEN shows the live buggy code."""

    def __init__(self) -> None:
        self.refreshed_steps: list[int] = []

    def refresh_inputs(self, inputs, step):
        self.refreshed_steps.append(step)
        return [
            {**row, "prompt": [{"role": "user", "content": f"step {step}"}], "shown_step": step}
            for row in inputs
        ]

    def state_dict(self):
        return {"refreshed": list(self.refreshed_steps)}

    def pop_metrics(self):
        return {"hooks/calls": float(len(self.refreshed_steps))}


def length_reward(prompts, completions, shown_step, **kwargs):
    """A real, cheap reward: prefers completions near 20 characters; checks the row refresh reached it."""
    for prompt, step in zip(prompts, shown_step, strict=True):
        assert prompt[0]["content"] == f"step {step}"
    return [-abs(len(c[0]["content"]) - 20) / 20 for c in completions]


def run_phase(tmp_path, model_dir, steps, hooks, records, n_rows=4):
    from datasets import Dataset

    config = load_config("atgen-static", preset="cpu-smoke")
    rows = [{"prompt": [{"role": "user", "content": "x"}], "task_id": f"t{i}"} for i in range(n_rows)]
    policy = load_policy(config.test_model, str(model_dir), None, use_cpu=True)
    args = build_grpo_config(
        config.grpo, output_dir=tmp_path / "checkpoints", max_steps=steps, seed=0, use_cpu=True
    )
    return run_grpo_phase(
        phase="unit",
        phase_dir=tmp_path,
        policy=policy,
        dataset=Dataset.from_list(rows),
        reward_funcs=[length_reward],
        grpo_args=args,
        metrics_sink=records.append,
        hooks=hooks,
    )


@pytest.mark.slow
def test_phase_trains_saves_times_and_resumes(tmp_path, tiny_model_dir):
    records: list[dict] = []
    hooks = CountingHooks()
    first = run_phase(tmp_path, tiny_model_dir, 2, hooks, records)
    assert first.steps == 2 and first.resumed_from is None
    assert hooks.refreshed_steps == [0, 1]
    assert [r["step"] for r in records] == [1, 2]
    for row in records:
        for key in ("reward", "kl", "frac_reward_zero_std", "completions/mean_length", "hooks/calls"):
            assert key in row
        split = row["time/generation"] + row["time/reward"] + row["time/optimisation"]
        assert split <= row["time/step"] + 1e-6
    # LoRA preset: the phase result is an adapter with its tokenizer
    assert (first.model_dir / "adapter_config.json").is_file()
    assert (first.model_dir / "tokenizer_config.json").is_file()
    checkpoint = latest_checkpoint(tmp_path / "checkpoints")
    assert checkpoint.name == "checkpoint-2"
    assert read_extra_state(checkpoint) == {"refreshed": [0, 1]}

    # An interrupted save leaves a folder without trainer_state.json: it is never resumed from.
    (tmp_path / "checkpoints" / "checkpoint-3").mkdir()
    (tmp_path / "checkpoints" / "checkpoint-3" / EXTRA_STATE_NAME).write_text(json.dumps({}))
    more: list[dict] = []
    second = run_phase(tmp_path, tiny_model_dir, 3, CountingHooks(), more)
    assert second.resumed_from == checkpoint
    assert second.steps == 3 and [r["step"] for r in more] == [3]


@pytest.mark.slow
def test_a_run_killed_after_its_last_checkpoint_resumes_without_a_step_more(tmp_path, tiny_model_dir):
    """Killed after the last step's checkpoint, before the phase's model was saved: the resume
    saves the checkpoint's policy and trains nothing (transformers' loop ran step max+1 whenever
    an epoch holds more steps than the run: found by bench/chaos.py)."""
    import torch
    from safetensors.torch import load_file

    first = run_phase(tmp_path, tiny_model_dir, 2, CountingHooks(), [], n_rows=16)
    assert first.steps == 2
    shutil.rmtree(first.model_dir)  # the kill came before the phase's model was written
    records: list[dict] = []
    again = run_phase(tmp_path, tiny_model_dir, 2, CountingHooks(), records, n_rows=16)
    checkpoint = latest_checkpoint(tmp_path / "checkpoints")
    assert again.resumed_from == checkpoint and checkpoint.name == "checkpoint-2"
    assert again.steps == 2 and records == []
    saved = load_file(again.model_dir / "adapter_model.safetensors")
    expected = load_file(checkpoint / "adapter_model.safetensors")
    assert saved.keys() == expected.keys()
    assert all(torch.equal(saved[k], expected[k]) for k in saved)


def test_gpu_only_settings_are_refused_on_cpu_before_loading_anything():
    config = load_config("utrl", preset="cpu-smoke", overrides=["grpo.bf16=true"])
    with pytest.raises(InputError, match="bf16"):
        check_device(config)
    server = ["grpo.use_vllm=true", "grpo.vllm_mode=server", "device=cpu"]
    config = load_config("utrl", preset="cpu-smoke", overrides=server)
    # Not installed, or installed: TRL's server-mode weight sync needs NCCL, so CUDA.
    with pytest.raises(InputError, match=r"vLLM (but it is not installed|server over NCCL)"):
        check_device(config)
    config = load_config("utrl", preset="cpu-smoke", overrides=["device=cuda"])
    if not _has_gpu():
        with pytest.raises(InputError, match="no GPU"):
            check_device(config)


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()
