"""Training configs: shipped files, presets, `--set` overrides, strict keys, the saved config."""

from __future__ import annotations

import pytest
import yaml

from atest.core.errors import InputError
from atest.core.training.config import (
    GrpoSection,
    apply_overrides,
    config_dir,
    dump_config,
    grpo_for_iteration,
    load_config,
    load_saved_config,
    parse_override,
    steps_for_iteration,
    valid_keys,
)
from atest.core.training.modes import MODES
from atest.core.training.runner import resolve_config
from atest.core.training.trainer.grpo import completions_per_step, gradient_accumulation


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("preset", [None, "cpu-smoke"])
def test_every_shipped_config_validates(mode, preset):
    config = load_config(mode, preset=preset)
    assert config.mode == mode
    if mode == "utrl":
        assert config.code_model is not None


def test_paper_hyper_parameters_are_the_papers():
    utrl = load_config("utrl")
    assert utrl.test_model.path == "Qwen/Qwen3-4B" and utrl.code_model.path == "Qwen/Qwen3-4B"
    assert (utrl.grpo.learning_rate, utrl.grpo.num_generations, utrl.grpo.prompts_per_step) == (1e-6, 8, 128)
    assert (
        utrl.grpo.beta == 0.001 and utrl.grpo.max_completion_length == 4096 and utrl.grpo.temperature == 1.0
    )
    assert (utrl.utrl.format_weight, utrl.utrl.discrimination_weight, utrl.utrl.validity_weight) == (
        0.1,
        0.85,
        0.05,
    )
    # The authors' scripts: n=8 in every phase, 5e-6 for the iteration-2 test generator only,
    # a 1% warm-up, the hand-picked step-100 test generator and step-370 code generator of
    # iteration 1, and no iteration-2 code generator.
    second = grpo_for_iteration(utrl, 2)
    assert (second.num_generations, second.learning_rate) == (8, 5e-6)
    assert (utrl.grpo.warmup_steps, utrl.grpo.lr_scheduler_type) == (0.01, "constant_with_warmup")
    assert steps_for_iteration(utrl, 1) == (100, 370)
    assert steps_for_iteration(utrl, 2)[1] == 0
    assert utrl.test_model.thinking and utrl.code_model.thinking  # the authors never pass enable_thinking
    assert (utrl.utrl.gen_tests.n, utrl.utrl.gen_tests.temperature) == (1, 0.0)  # greedy when one sample
    assert not utrl.utrl.exclude_correct_opponents and not utrl.utrl.drop_codeless_opponents
    atgen = load_config("atgen-adaptive")
    assert atgen.test_model.path == "Qwen/Qwen2.5-7B-Instruct" and atgen.test_model.lora.enabled
    assert (atgen.atgen.adversary.retries, atgen.atgen.start_adver_steps) == (30, 50)
    assert (atgen.atgen.replay_prob, atgen.atgen.buggy_per_task, atgen.atgen.adversary.extra_gates) == (
        0.0,
        None,
        False,
    )


@pytest.mark.parametrize("mode", ["utrl", "atgen-static", "atgen-unconditional", "atgen-adaptive"])
def test_atest_preset_turns_on_atests_own_choices(mode):
    config = load_config(mode, preset="atest")
    if mode == "utrl":
        assert config.utrl.exclude_correct_opponents and config.utrl.drop_codeless_opponents
        assert not config.test_model.thinking
    else:
        atgen = config.atgen
        assert (atgen.replay_prob, atgen.replay_pool_size, atgen.buggy_per_task) == (0.2, 4, 1)
        assert atgen.adversary.extra_gates
    paper = load_config(mode)
    assert config.grpo == paper.grpo  # only the switches differ, not the hyper-parameters


def test_cpu_smoke_preset_is_a_small_cpu_run():
    for mode in MODES:
        config = load_config(mode, preset="cpu-smoke")
        assert config.test_model.path == "tiny-random"
        assert config.device == "cpu" and not config.grpo.bf16 and not config.grpo.use_vllm
        assert config.threads == 1
        if mode == "sft":
            assert not config.sft.bf16 and config.sft.max_steps is not None
        else:
            assert config.grpo.max_completion_length <= 128


def test_smoke_tasks_are_found_beside_the_preset_and_fit_every_mode():
    from atest.core.training.runner import check_mode_inputs, select_tasks

    for mode in MODES:
        config = load_config(mode, preset="cpu-smoke")
        assert config.tasks == str(config_dir() / "cpu-smoke" / "tasks.jsonl")
        tasks, notes = select_tasks(config)
        assert len(tasks) == config.max_tasks and not notes
        assert all(t.gold_tests and t.buggy_code for t in tasks)
        check_mode_inputs(config, tasks)


def test_relative_tasks_path_in_a_user_file_is_relative_to_that_file(tmp_path):
    (tmp_path / "sub").mkdir()
    user = tmp_path / "sub" / "mine.yaml"
    user.write_text(f"base: {config_dir() / 'cpu-smoke' / 'utrl.yaml'}\ntasks: ../data/t.jsonl\n")
    config = load_config("utrl", config_file=user)
    assert config.tasks == str(tmp_path / "data" / "t.jsonl")


def test_overrides_parse_values_as_yaml():
    config = load_config(
        "utrl",
        preset="cpu-smoke",
        overrides=[
            "grpo.learning_rate=3e-4",
            "grpo.report_to=[tensorboard]",
            "test_model.lora.enabled=true",
            "seed=7",
        ],
    )
    assert config.grpo.learning_rate == 3e-4
    assert config.grpo.report_to == ["tensorboard"]
    assert config.test_model.lora.enabled is True
    assert config.seed == 7


def test_unknown_key_names_the_key_a_guess_and_the_valid_keys():
    with pytest.raises(InputError) as info:
        load_config("utrl", overrides=["utrl.opponents.temp=1"])
    text = info.value.one_line()
    assert text.startswith("--set utrl.opponents.temp=1: unknown config key 'utrl.opponents.temp'")
    assert "utrl.opponents.temperature" in text and "utrl.opponents.max_new_tokens" in text
    assert "\n" not in text


def test_unknown_key_in_a_yaml_file_is_rejected_with_the_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(f"base: {config_dir() / 'utrl.yaml'}\ngrpo:\n  learnin_rate: 1.0e-5\n")
    with pytest.raises(InputError) as info:
        load_config("utrl", config_file=path)
    assert str(path) in info.value.message
    assert "did you mean 'grpo.learning_rate'" in info.value.one_line()


def test_a_per_iteration_entry_is_checked_like_a_section(tmp_path):
    with pytest.raises(InputError) as info:
        load_config("utrl", overrides=["utrl.per_iteration=[{test_stepz: 3}]"])
    assert "did you mean 'utrl.per_iteration.0.test_steps'" in info.value.one_line()
    # Its grpo overrides are checked when the config loads, not when the iteration starts.
    path = tmp_path / "mine.yaml"
    path.write_text(
        f"base: {config_dir() / 'utrl.yaml'}\nutrl:\n  per_iteration: [{{grpo: {{learning_rate: fast}}}}]\n"
    )
    with pytest.raises(
        InputError, match=r"per_iteration\.0\.grpo': 'learning_rate': Input should be a valid number"
    ):
        load_config("utrl", config_file=path)
    with pytest.raises(InputError, match="did you mean 'learning_rate'"):
        load_config("utrl", overrides=["utrl.per_iteration=[{grpo: {lr: 1}}]"])


def test_extra_grpo_fields_are_checked_against_trl(tmp_path):
    config = load_config("utrl", preset="cpu-smoke", overrides=["grpo.extra.top_k=5"])
    assert config.grpo.extra == {"top_k": 5}
    with pytest.raises(InputError, match="not a TRL GRPOConfig field"):
        load_config("utrl", preset="cpu-smoke", overrides=["grpo.extra.no_such_field=5"])


def test_bad_values_and_shapes_are_one_line_errors():
    with pytest.raises(InputError, match=r"grpo\.num_generations"):
        load_config("utrl", overrides=["grpo.num_generations=1"])
    with pytest.raises(InputError, match=r"^--set seed\.x=1: config key 'seed' is a value, not a section"):
        load_config("utrl", overrides=["seed.x=1"])
    with pytest.raises(InputError, match=r"'test_model\.lora\.target_modules' is a value, not a section"):
        load_config("utrl", overrides=["test_model.lora.target_modules.x=1"])
    with pytest.raises(InputError, match="KEY=VALUE"):
        parse_override("grpo.learning_rate")
    with pytest.raises(InputError, match="unknown mode"):
        load_config("utrl-v2")
    with pytest.raises(InputError, match=r"no preset .gpu-huge.*available: atest, cpu-smoke"):
        load_config("utrl", preset="gpu-huge")


def test_utrl_needs_a_code_model(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("mode: utrl\ntest_model: {path: tiny-random}\n")
    with pytest.raises(InputError, match=f"^{path}: mode utrl needs a 'code_model' section"):
        resolve_config("utrl", config_file=path)


def test_mode_mismatch_between_file_and_flag_is_refused():
    with pytest.raises(InputError, match="for mode 'utrl', not 'atgen-static'"):
        load_config("atgen-static", config_file=config_dir() / "utrl.yaml")


def test_base_chain_loop_is_detected(tmp_path):
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(InputError, match="loops"):
        load_config("utrl", config_file=tmp_path / "a.yaml")


def test_saved_config_round_trips_and_takes_overrides(tmp_path):
    config = load_config("atgen-adaptive", preset="cpu-smoke", overrides=["atgen.max_steps=5"])
    path = tmp_path / "config.yaml"
    path.write_text(dump_config(config))
    again = load_saved_config(path)
    assert again == config
    longer = load_saved_config(path, ["atgen.max_steps=9"])
    assert longer.atgen.max_steps == 9
    assert yaml.safe_load(path.read_text())["atgen"]["max_steps"] == 5


def test_valid_keys_cover_nested_sections_and_only_leaves():
    keys = valid_keys()
    assert "grpo.learning_rate" in keys and "atgen.adversary.retries" in keys
    assert "grpo" not in keys and "utrl.per_iteration" in keys


def test_apply_overrides_creates_missing_sections_without_touching_the_input():
    data = {"mode": "utrl"}
    out = apply_overrides(data, ["sandbox.workers=3"])
    assert out["sandbox"] == {"workers": 3} and data == {"mode": "utrl"}


def test_batch_arithmetic_matches_the_papers_batch():
    grpo = GrpoSection(prompts_per_step=128, num_generations=8, per_device_train_batch_size=8)
    assert completions_per_step(grpo) == 1024
    assert gradient_accumulation(grpo, n_processes=8) == 16
    with pytest.raises(InputError, match="not a multiple"):
        gradient_accumulation(
            GrpoSection(prompts_per_step=3, num_generations=3, per_device_train_batch_size=4), 1
        )
