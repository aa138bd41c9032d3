"""The fast CPU training path (atest/core/training/fastpath.py): what it decides on which machine
and run, each part's switch, and the decoder's generation inside a real GRPOTrainer."""

from __future__ import annotations

import importlib.util

import pytest

from atest.core.errors import InputError
from atest.core.training import fastpath
from atest.core.training.config import load_config

CPUINFO_AVX2 = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n"
CPUINFO_BF16 = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_tile amx_bf16\n"


def smoke(*overrides: str, mode: str = "atgen-static"):
    return load_config(mode, preset="cpu-smoke", overrides=list(overrides))


def test_cpu_flags_are_read_from_cpuinfo():
    assert "avx2" in fastpath.cpu_flags(CPUINFO_AVX2)
    assert {"avx512_bf16", "amx_bf16"} <= fastpath.cpu_flags(CPUINFO_BF16)
    assert fastpath.cpu_flags("no flags here") == set()


def test_bf16_only_where_the_cpu_has_it_and_each_switch_wins():
    config = smoke()
    on_avx2 = fastpath.decide(config, use_cpu=True, model_dir=None, flags=fastpath.cpu_flags(CPUINFO_AVX2))
    assert on_avx2.bf16 is False and "slower" in on_avx2.reasons["bf16"]
    native = fastpath.decide(config, use_cpu=True, model_dir=None, flags=fastpath.cpu_flags(CPUINFO_BF16))
    assert native.bf16 is True and "avx512_bf16" in native.reasons["bf16"]
    off = fastpath.decide(smoke("fast.bf16=false"), use_cpu=True, model_dir=None, flags={"avx512_bf16"})
    assert off.bf16 is False and off.reasons["bf16"] == "fast.bf16=false"
    asked = fastpath.decide(smoke("fast.bf16=true"), use_cpu=True, model_dir=None, flags=set())
    assert asked.bf16 is True


def test_threads_come_from_the_cores_owned_unless_the_config_sets_them():
    free = smoke("threads=null")
    assert fastpath.decide(free, use_cpu=True, model_dir=None, cores=8, load=0.2, processes=2).threads == 4
    assert fastpath.decide(free, use_cpu=True, model_dir=None, cores=2, load=0.0, processes=4).threads == 1
    # Other jobs keep cores busy: only the idle ones get a thread, and never fewer than one.
    assert fastpath.decide(free, use_cpu=True, model_dir=None, cores=8, load=5.0).threads == 4
    # A load of one is taken as the run's own (an earlier step of `atest demo`): every core.
    assert fastpath.decide(free, use_cpu=True, model_dir=None, cores=2, load=1.0).threads == 2
    busy = fastpath.decide(free, use_cpu=True, model_dir=None, cores=2, load=18.0)
    assert busy.threads == 1 and "load 18.0" in busy.reasons["threads"]
    preset = fastpath.decide(smoke(), use_cpu=True, model_dir=None, cores=8)  # the preset's threads: 1
    assert preset.threads is None and "set by the config" in preset.reasons["threads"]
    off = fastpath.decide(smoke("threads=null", "fast.threads=false"), use_cpu=True, model_dir=None, cores=8)
    assert off.threads is None


def test_a_gpu_run_keeps_trl_settings():
    path = fastpath.decide(smoke(), use_cpu=False, model_dir=None, flags={"avx512_bf16"})
    assert not (path.vllm or path.bf16 or path.prefix_sharing) and path.threads is None
    assert path.describe().startswith("fast path: off (a GPU run")


def test_vllm_is_left_off_on_a_cpu_that_would_emulate_its_bf16(tiny_model_dir):
    """TRL builds the colocated engine in the checkpoint's bf16: emulated without native bf16."""
    path = fastpath.decide(smoke(), use_cpu=True, model_dir=str(tiny_model_dir), flags={"avx2"})
    assert path.vllm is False and "no native bf16" in path.reasons["vllm"]
    if importlib.util.find_spec("vllm") is not None:  # asked for explicitly, the user's choice holds
        asked = fastpath.decide(
            smoke("fast.vllm=true"), use_cpu=True, model_dir=str(tiny_model_dir), flags={"avx2"}
        )
        assert asked.vllm is True


def test_vllm_is_left_off_when_the_engine_start_would_not_pay(tiny_model_dir):
    path = fastpath.decide(smoke(), use_cpu=True, model_dir=str(tiny_model_dir), flags={"avx512_bf16"})
    assert path.vllm is False
    if importlib.util.find_spec("vllm") is None:
        assert path.reasons["vllm"] == "vLLM is not installed"
    else:
        assert "engine start" in path.reasons["vllm"]
    assert path.prefix_sharing is False and path.reasons["prefix_sharing"] == "fast.prefix_sharing=false"
    shared = fastpath.decide(smoke("fast.prefix_sharing=auto"), use_cpu=True, model_dir=str(tiny_model_dir))
    assert shared.prefix_sharing is True  # asked for, with hf generation: the decoder shares the prefill
    assert fastpath.decide(smoke("fast.vllm=false"), use_cpu=True, model_dir=None).reasons["vllm"] == (
        "fast.vllm=false"
    )


def test_asking_for_vllm_where_it_cannot_run_is_a_clear_error(tiny_model_dir):
    config = smoke("fast.vllm=true")
    with pytest.raises(InputError) as err:
        fastpath.decide(config, use_cpu=True, model_dir=str(tiny_model_dir), processes=2)
    assert "fast.vllm=true but" in err.value.message and err.value.hint


def test_parameter_estimate_is_close_to_the_model(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    real = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(tiny_model_dir).parameters())
    estimate = fastpath.parameter_estimate(str(tiny_model_dir))
    assert estimate is not None and 0.5 * real <= estimate <= 2 * real
    assert fastpath.parameter_estimate("/nonexistent") is None


def test_generation_kwargs_the_decoder_cannot_apply_keep_trl_generate():
    config = smoke("grpo.extra={generation_kwargs: {repetition_penalty: 1.2}}", "fast.prefix_sharing=auto")
    path = fastpath.decide(config, use_cpu=True, model_dir=None)
    assert path.prefix_sharing is False and "repetition_penalty" in path.reasons["prefix_sharing"]
    with pytest.raises(InputError):
        fastpath.decide(
            smoke("grpo.extra={generation_kwargs: {repetition_penalty: 1.2}}", "fast.prefix_sharing=true"),
            use_cpu=True,
            model_dir=None,
        )


def test_grpo_overrides_follow_the_active_path():
    try:
        fastpath._active = fastpath.FastPath(vllm=True, bf16=True)
        out = fastpath.grpo_overrides({"generation_kwargs": {"min_new_tokens": 16}})
        assert out == {
            "bf16": True,
            "use_vllm": True,
            "vllm_mode": "colocate",
            "generation_kwargs": {"min_tokens": 16},  # vLLM's name for it
        }
    finally:
        fastpath.stop()
    assert fastpath.grpo_overrides({}) == {} and fastpath.active() is fastpath.OFF


@pytest.mark.parametrize("forced", [False, True])
def test_decoder_generation_inside_a_grpo_trainer(tiny_model_dir, tmp_path, forced):
    """The replaced `_generate_single_turn` returns what TRL's does: one completion per prompt copy,
    each at most max_completion_length tokens and ending at a stop token or the limit; with
    min_new_tokens at the limit (bench/trl_overhead.py) every completion has the full length."""
    import torch
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from atest.core.training.trainer.grpo import load_tokenizer

    torch.manual_seed(0)
    tokenizer = load_tokenizer(tiny_model_dir)
    extra = {"generation_kwargs": {"min_new_tokens": 12}} if forced else {}
    trainer = GRPOTrainer(
        model=str(tiny_model_dir),
        reward_funcs=lambda completions, **kw: [0.0] * len(completions),
        args=GRPOConfig(
            output_dir=str(tmp_path),
            use_cpu=True,
            bf16=False,
            gradient_checkpointing=False,
            report_to="none",
            num_generations=3,
            per_device_train_batch_size=3,
            max_completion_length=12,
            **extra,
        ),
        train_dataset=Dataset.from_list([{"prompt": "Input: 1 2"}, {"prompt": "Output:"}]),
        processing_class=tokenizer,
    )
    try:
        fastpath._active = fastpath.FastPath(prefix_sharing=True)
        assert fastpath.attach(trainer)
    finally:
        fastpath.stop()
    prompts = [tokenizer("Input: 1 2")["input_ids"]] * 3 + [tokenizer("Output:")["input_ids"]] * 3
    completions, logprobs = trainer._generate_single_turn(prompts, None, {}, 3)
    assert logprobs is None and len(completions) == 6
    stops = set(trainer.eos_token_ids)
    for ids in completions:
        assert 1 <= len(ids) <= 12
        if forced:
            assert len(ids) == 12 and not stops & set(ids)
        else:
            assert len(ids) == 12 or ids[-1] in stops
            assert not stops & set(ids[:-1])
    # A process's share that cuts a group (2 copies of one prompt, 1 of the other) works too.
    assert len(trainer._generate_single_turn(prompts[1:4], None, {}, 3)[0]) == 3


def test_micro_batch_splits_the_loss_pass_only_where_the_step_stays_the_same():
    config = smoke()  # 8 completions a step, 4 rows a pass, loss_type dapo
    path = fastpath.decide(config, use_cpu=True, model_dir=None)
    assert path.micro_batch == 1 and "4 rows a pass -> 1" in path.reasons["micro_batch"]
    assert "micro_batch 1" in path.describe()
    off = fastpath.decide(smoke("fast.micro_batch=false"), use_cpu=True, model_dir=None)
    assert off.micro_batch is None and off.reasons["micro_batch"] == "fast.micro_batch=false"
    # bnpo normalises by each micro-batch's tokens: splitting would change the loss.
    bnpo = fastpath.decide(smoke("grpo.loss_type=bnpo"), use_cpu=True, model_dir=None)
    assert bnpo.micro_batch is None and "bnpo" in bnpo.reasons["micro_batch"]
    with pytest.raises(InputError):
        fastpath.decide(smoke("grpo.loss_type=bnpo", "fast.micro_batch=true"), use_cpu=True, model_dir=None)
    one = fastpath.decide(smoke("grpo.per_device_train_batch_size=1"), use_cpu=True, model_dir=None)
    assert one.micro_batch is None and "already 1" in one.reasons["micro_batch"]
    assert fastpath.decide(config, use_cpu=False, model_dir=None).micro_batch is None  # a GPU keeps TRL's


def test_micro_batch_keeps_the_generation_batch_and_the_step():
    try:
        fastpath._active = fastpath.FastPath(micro_batch=1)
        out = fastpath.grpo_overrides({"per_device_train_batch_size": 4, "gradient_accumulation_steps": 2})
        # 8 completions generated at once and one optimizer step over them, as before
        assert out == {"per_device_train_batch_size": 1, "gradient_accumulation_steps": 8}
        given = fastpath.grpo_overrides(
            {"per_device_train_batch_size": 4, "gradient_accumulation_steps": 2, "steps_per_generation": 4}
        )
        assert given["steps_per_generation"] == 16
    finally:
        fastpath.stop()


@pytest.mark.parametrize("loss_type", ["dapo", "grpo"])
def test_one_row_micro_batches_take_trl_to_the_same_optimizer_step(tiny_model_dir, tmp_path, loss_type):
    """A real GRPOTrainer step on 8 completions in 4-row passes, then in 1-row passes as the fast
    path sets them: the same completions (one generation batch either way, the same seed), so
    the same loss, gradient norm and updated weights up to float rounding."""
    import torch
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from atest.core.training.trainer.grpo import load_tokenizer

    settings = {
        "use_cpu": True, "bf16": False, "gradient_checkpointing": False, "report_to": "none",
        "num_generations": 4, "max_completion_length": 10, "max_steps": 1, "seed": 0,
        "learning_rate": 1e-3, "save_strategy": "no", "logging_steps": 1,
    }  # fmt: skip

    def one_step(fast: fastpath.FastPath, out: str) -> tuple[dict, dict]:
        kwargs = {"per_device_train_batch_size": 4, "gradient_accumulation_steps": 2}
        try:
            fastpath._active = fast
            kwargs.update(fastpath.grpo_overrides(kwargs))
        finally:
            fastpath.stop()
        torch.manual_seed(0)
        trainer = GRPOTrainer(
            model=str(tiny_model_dir),
            # rewards that differ within each group, so that the step has a gradient
            reward_funcs=lambda completions, **kw: [float(len(c) % 7) for c in completions],
            args=GRPOConfig(**settings, loss_type=loss_type, output_dir=str(tmp_path / out), **kwargs),
            train_dataset=Dataset.from_list([{"prompt": "Input: 1 2"}, {"prompt": "Output:"}] * 4),
            processing_class=load_tokenizer(tiny_model_dir),
        )
        trainer.train()
        (logged,) = [row for row in trainer.state.log_history if "grad_norm" in row]
        return logged, {k: v.detach().clone() for k, v in trainer.model.named_parameters()}

    plain, plain_weights = one_step(fastpath.FastPath(), "plain")
    split, split_weights = one_step(fastpath.FastPath(micro_batch=1), "split")
    assert plain["grad_norm"] > 0
    for key in ("loss", "grad_norm", "reward"):
        assert split[key] == pytest.approx(plain[key], rel=1e-4, abs=1e-7), key
    for name, weight in plain_weights.items():
        # Adam's first update is lr x g / (|g| + eps): a gradient near eps moves by a rounding
        torch.testing.assert_close(split_weights[name], weight, rtol=1e-4, atol=1e-5)
