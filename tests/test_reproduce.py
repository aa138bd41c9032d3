"""`atest reproduce`: statistics on known cases, one formula with the commands, splits, plans."""

from __future__ import annotations

import json

import evalcases
import pytest
from atest_cli import run_cli

from atest.core.errors import InputError
from atest.core.metrics.attack import AttackUnit, attack_report
from atest.core.reproduce.data import build_splits, family
from atest.core.reproduce.plan import build_plan, plan_summary
from atest.core.reproduce.preset import load_preset
from atest.core.reproduce.results import (
    attack_values,
    bon_values,
    fidelity_values,
    mutation_values,
    pairs,
)
from atest.core.stats import TaskValue, bootstrap_ci, estimate, paired_diff, verdict

# ---- statistics ----


def test_estimate_pools_units_of_a_task_as_a_ratio_of_sums():
    values = {"t1": TaskValue(2, 4), "t2": TaskValue(1, 1)}
    assert estimate(values) == pytest.approx(3 / 5)  # not the mean of 0.5 and 1.0
    assert bootstrap_ci({"t1": TaskValue(2, 4)}) == [0.5, 0.5]  # one task resamples to itself


def test_a_paired_difference_cancels_what_both_models_share():
    """B varies a lot from task to task; A is B + 0.1 on every task. Each model's own interval
    is wide, but the paired difference is exactly 0.1: the task-to-task variation cancels."""
    base = [0.0, 0.9, 0.2, 0.7, 0.4, 0.1, 0.8, 0.3, 0.6, 0.5] * 3
    b = {f"t{i}": TaskValue(v) for i, v in enumerate(base)}
    a = {f"t{i}": TaskValue(v + 0.1) for i, v in enumerate(base)}
    ci_a, ci_b = bootstrap_ci(a), bootstrap_ci(b)
    assert ci_a[0] < ci_b[1]  # the unpaired intervals overlap
    d = paired_diff(a, b)
    assert d.diff == pytest.approx(0.1) and d.ci95 == pytest.approx([0.1, 0.1]) and d.n_tasks == 30
    assert verdict(d) == "higher" and verdict(paired_diff(b, a)) == "lower"


def test_a_paired_interval_containing_zero_shows_no_difference_and_only_common_tasks_count():
    a = {"t1": TaskValue(1), "t2": TaskValue(0), "t3": TaskValue(1), "t4": TaskValue(0), "x": TaskValue(1)}
    b = {"t1": TaskValue(0), "t2": TaskValue(1), "t3": TaskValue(1), "t4": TaskValue(0)}
    d = paired_diff(a, b, seed=3)
    assert d.n_tasks == 4 and d.diff == 0.0
    assert d.ci95[0] < 0 < d.ci95[1] and verdict(d) == "no difference shown"
    assert verdict(paired_diff(a, {"y": TaskValue(1)})) == "not measured"


def test_pairs_put_each_rl_run_against_warmup_sft_and_base():
    got = pairs("atgen", ["base", "warmup", "sft", "atgen-static", "atgen-adaptive"])
    assert ("atgen-adaptive", "warmup") in got and ("atgen-adaptive", "sft") in got
    assert ("atgen-static", "atgen-adaptive") in got and ("warmup", "base") in got
    assert all(a != b for a, b in got) and len(got) == len(set(got))


# ---- one formula: per-task values give back each command's own figure ----


def test_per_task_values_reproduce_the_commands_figures(tmp_path):
    tasks, tests = evalcases.write_case(tmp_path)
    atgen_tests = evalcases.write_jsonl(tmp_path / "atgen.jsonl", evalcases.ATGEN_ROWS)
    cpu = ["--cpu-seconds", evalcases.CPU]
    units = tmp_path / "units.jsonl"
    attack = run_cli(
        "attack-eval", "--tasks", str(tasks), "--tests", str(atgen_tests), "--out", str(units), *cpu, "--json"
    )
    assert attack.returncode == 0, attack.stderr
    summary = json.loads(attack.stdout)
    for rate, per_task in attack_values(units).items():
        assert estimate(per_task) == pytest.approx(summary[rate])
        assert bootstrap_ci(per_task) == pytest.approx(summary[f"{rate}_ci95"])  # the same interval too
    bon_out = tmp_path / "bon.jsonl"
    bon = run_cli("bon", "--tasks", str(tasks), "--tests", str(tests), "--out", str(bon_out), *cpu, "--json")
    assert bon.returncode == 0, bon.stderr
    assert estimate(bon_values(bon_out)) == pytest.approx(json.loads(bon.stdout)["accuracy"])
    fid_out = tmp_path / "fidelity.jsonl"
    fid = run_cli(
        "fidelity", "--tasks", str(tasks), "--tests", str(tests), "--out", str(fid_out), *cpu, "--json"
    )
    assert fid.returncode == 0, fid.stderr
    assert estimate(fidelity_values(fid_out)) == pytest.approx(json.loads(fid.stdout)["fidelity"])
    mut = run_cli("mutation-score", "--tasks", str(tasks), "--tests", str(tests), "--k", "4", *cpu, "--json")
    assert mut.returncode == 0, mut.stderr
    mut_summary = json.loads(mut.stdout)
    assert estimate(mutation_values(mut_summary)) == pytest.approx(mut_summary["mutation_score"])


def test_attack_report_interval_is_the_task_bootstrap_of_its_units():
    units = [
        AttackUnit(t, "easy", True, True, io, att)
        for t, io, att in [("a", True, True), ("a", True, False), ("b", False, False), ("c", True, True)]
    ]
    report = attack_report(units, seed=5)
    per_task: dict[str, TaskValue] = {}
    for u in units:
        old = per_task.get(u.task_id, TaskValue(0, 0))
        per_task[u.task_id] = TaskValue(old.num + u.flag("attack_rate"), old.den + 1)
    assert estimate(per_task) == report["attack_rate"]
    assert bootstrap_ci(per_task, seed=5) == report["attack_rate_ci95"]


# ---- splits ----


def test_build_splits_holds_out_whole_families_and_keeps_splits_disjoint(tmp_path):
    preset = load_preset("cpu-small")
    data = preset.data_for("atgen")
    assert data.pool.source == "synth"
    (tmp_path / "synth.jsonl").write_text(
        "".join(
            json.dumps({
                "task_id": f"synth-{fam}-{i}", "question": f"{fam} {i}", "kind": kind,
                "fn_name": "f" if kind == "functional" else None, "gold_solutions": ["pass"],
                "gold_tests": [{"input": [1] if kind == "functional" else "1", "output": "1"}],
                "buggy_code": ["pass"], "family": fam,
            }) + "\n"
            for fam, kind in [(f"s{j}", "stdio") for j in range(6)] + [(f"f{j}", "functional") for j in range(3)]
            for i in range(6)
        )
    )  # fmt: skip
    paths = build_splits(data, tmp_path)
    rows = {name: [json.loads(x) for x in p.read_text().splitlines()] for name, p in paths.items()}
    held = {family(r) for r in rows["heldout-family"]}
    val = {family(r) for r in rows["val"]}
    assert len(held) == data.pool.heldout_families and len(val) == data.pool.val_families
    assert any(f.startswith("f") for f in held | val)  # functional families are held out too
    for name in ("train", "val", "heldout-instance"):
        assert not held & {family(r) for r in rows[name]}
    assert not val & {family(r) for r in rows["train"]}
    ids = [r["task_id"] for rs in rows.values() for r in rs]
    assert len(ids) == len(set(ids))
    assert all(len(rows[n]) <= cap for n, cap in data.pool.sizes.items())
    (tmp_path / "again").mkdir()
    (tmp_path / "again" / "synth.jsonl").write_text((tmp_path / "synth.jsonl").read_text())
    again = build_splits(data, tmp_path / "again")  # seeded: the same split every time
    assert all(again[n].read_text() == paths[n].read_text() for n in paths)


# ---- plans (no model, no GPU) ----

PRESETS = ("cpu-small", "cpu", "paper")


@pytest.mark.parametrize("paper", ["atgen", "utrl"])
@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_plans_every_step_without_running_anything(tmp_path, paper, preset):
    out = tmp_path / "study"
    plan = plan_summary(build_plan(paper, preset, load_preset(preset), out))
    assert not out.exists()  # nothing ran, nothing was written
    commands = [s["command"] for s in plan["steps"]]
    assert plan["expected_cost"] > 0 and plan["gpu"] == (preset == "paper")
    rl = [c for c in commands if c.startswith("atest train --mode") and "--mode sft" not in c]
    assert rl and all("validation.select=best" in c and "validation.tasks=" in c for c in rl)
    models = plan["models"]
    assert "base" in models and "sft" in models
    gen = [c for c in commands if c.startswith("atest gen-tests")]
    assert gen and all(f"--prompt {paper}" in c for c in gen)
    wanted = (
        ("attack-eval", "bon", "mutation-score")
        if paper == "atgen"
        else ("bon", "fidelity", "mutation-score")
    )
    for name in wanted:
        assert any(c.startswith(f"atest {name} ") for c in commands), name
    for c in commands:
        if c.startswith("atest prepare") and "/train.jsonl" not in c.split("--out")[1]:
            assert "--exclude" in c  # every split but train drops the training statements
    if preset != "paper":
        (sft,) = [s["command"] for s in plan["steps"] if s["name"] == "train-sft"]
        steps = load_preset(preset).train.steps
        assert f"sft.max_steps={steps}" in sft or f"--steps {steps}" in sft  # the RL runs' budget
        # the CPU presets train LoRA adapters at LoRA rates: UTRL's cpu-smoke config trains every
        # weight, and setting only the rank left the fourth UTRL run at 1e-4 on all weights
        trains = [c for c in commands if c.startswith("atest train")]
        assert trains and all("test_model.lora.enabled=true" in c for c in trains)


def test_print_plan_on_the_command_line_runs_nothing(tmp_path):
    out = tmp_path / "study"
    proc = run_cli("reproduce", "atgen", "--preset", "paper", "--out", str(out), "--print-plan", "--json")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["cost_unit"].startswith("GPU-h") and len(plan["steps"]) > 20 and not out.exists()


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    bad = run_cli("reproduce", "atgen", "--preset", "cpu-small", "--set", "train.stepz=3", "--print-plan")
    assert bad.returncode == 2 and "train.stepz" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert run_cli("reproduce", "atgen", "--preset", "nope", "--print-plan").returncode == 2
    assert run_cli("reproduce", "codegen", "--preset", "cpu-small", "--print-plan").returncode == 2
    assert run_cli("reproduce", "atgen", "--preset", "cpu-small").returncode == 2  # --out missing


def test_a_study_folder_refuses_another_study(tmp_path):
    out = tmp_path / "s"
    out.mkdir()
    (out / "study.json").write_text(json.dumps({"paper": "utrl", "preset": "cpu-small", "sets": []}))
    proc = run_cli("reproduce", "atgen", "--preset", "cpu-small", "--out", str(out))
    assert proc.returncode == 2 and "holds the study" in proc.stderr


def test_hard_split_is_skipped_with_a_reason_when_its_file_is_missing(tmp_path):
    preset = load_preset("cpu-small", ["data.hard.path=/nonexistent/lc.jsonl.gz"])
    skipped = build_plan("atgen", "cpu-small", preset, tmp_path).skipped
    assert "not found" in skipped["hard"] and "--set data.hard.path" in skipped["hard"]


def test_presets_are_valid_yaml_for_the_schema():
    for name in PRESETS:
        preset = load_preset(name)
        assert preset.atgen.headline_metric == "attack_rate" and preset.utrl.headline_metric == "bon"
    assert load_preset("cpu").data_for("atgen").pool.source == "synth"


def test_eval_backend_reaches_every_gen_tests_step_and_a_missing_vllm_is_refused_first(tmp_path, monkeypatch):
    import importlib.util

    from atest.core.errors import InputError
    from atest.core.reproduce.plan import check_runnable

    plan = build_plan("atgen", "cpu-small", load_preset("cpu-small", ["eval.backend=vllm"]), tmp_path)
    gens = [s.argv for s in plan.steps if s.argv[:1] == ["gen-tests"]]
    assert gens and all(a[a.index("--backend") + 1] == "vllm" for a in gens)
    hf = build_plan("atgen", "cpu-small", load_preset("cpu-small"), tmp_path)
    assert not any("--backend" in s.argv for s in hf.steps if s.argv[:1] == ["gen-tests"])
    check_runnable(hf)  # hf needs nothing more
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a)
    )
    with pytest.raises(InputError, match=r"eval\.backend is vllm"):
        check_runnable(plan)


def test_one_test_count_and_one_response_budget_reach_every_stage_of_a_utrl_study(tmp_path):
    """A UTRL study asks for eval.n_tests tests at every stage (warm-up and SFT targets, the RL
    prompts, evaluation), and a paper's max_new_tokens is both the RL completion budget and the
    evaluation's: the first cpu run trained 4-test targets, prompted GRPO for 12 in 128 tokens
    (every completion cut short) and was scored on 4 in 96."""
    preset = load_preset(
        "cpu-small", ["eval.n_tests=3", "utrl.max_new_tokens=200", "train.max_completion_length=64"]
    )
    steps = {s.name: s.argv for s in build_plan("utrl", "cpu-small", preset, tmp_path).steps}

    def value(argv, flag):
        return argv[argv.index(flag) + 1]

    def setting(argv, key):
        [item] = [a for a in argv if a.startswith(f"{key}=")]
        return item.split("=", 1)[1]

    assert value(steps["warmup"], "--n-tests") == "3"
    assert setting(steps["train-utrl"], "utrl.n_tests") == "3"
    assert setting(steps["train-utrl"], "grpo.max_completion_length") == "200"
    assert setting(steps["train-sft"], "sft.n_tests") == "3"
    gens = [argv for argv in steps.values() if argv[:1] == ["gen-tests"]]
    assert gens and all(value(a, "--n-tests") == "3" and value(a, "--max-new-tokens") == "200" for a in gens)
    # without the paper's own budget, each stage keeps its section's; ATGEN asks for no test count
    plain = load_preset("cpu-small", ["train.max_completion_length=64", "eval.max_new_tokens=48"])
    atgen = {s.name: s.argv for s in build_plan("atgen", "cpu-small", plain, tmp_path).steps}
    rl = next(a for n, a in atgen.items() if n.startswith("train-atgen"))
    assert setting(rl, "grpo.max_completion_length") == "64" and not any("n_tests" in a for a in rl)
    assert "--n-tests" not in atgen["warmup"]
    assert all(value(a, "--max-new-tokens") == "48" for a in atgen.values() if a[:1] == ["gen-tests"])


def test_a_papers_learning_rate_reaches_its_rl_runs_only(tmp_path):
    """`<paper>.learning_rate` replaces train.learning_rate for that paper's GRPO runs (the cpu
    preset's ATGEN rate was chosen on ATGEN's validation curves; UTRL keeps train's), and SFT
    keeps its own rate."""

    def rl_rate(paper: str, sets: list[str]) -> str:
        steps = build_plan(paper, "cpu", load_preset("cpu", sets), tmp_path / paper).steps
        [argv] = [s.argv for s in steps if s.name.startswith(f"train-{paper}")]
        [item] = [a for a in argv if a.startswith("grpo.learning_rate=")]
        return item.split("=", 1)[1]

    assert float(rl_rate("atgen", [])) == 5e-4
    assert float(rl_rate("utrl", [])) == 2e-4
    assert float(rl_rate("utrl", ["atgen.learning_rate=1e-3"])) == 2e-4
    assert float(rl_rate("atgen", ["atgen.learning_rate=1e-3"])) == 1e-3
    assert float(rl_rate("utrl", ["train.learning_rate=3e-4"])) == 3e-4
    # a paper's own rate wins over train's, as its max_new_tokens does over train's budget
    assert float(rl_rate("atgen", ["train.learning_rate=3e-4"])) == 5e-4
    steps = build_plan("atgen", "cpu", load_preset("cpu"), tmp_path / "sft").steps
    [sft] = [s.argv for s in steps if s.name == "train-sft"]
    assert float(sft[sft.index("--lr") + 1]) == 1e-4


def test_the_warmup_targets_reach_the_warmup_and_both_papers_sft_baselines(tmp_path):
    """The SFT baseline continues the warm-up on the same targets; the default adds no flag, so an
    earlier study's commands (and its resume) stay as they were."""
    worked = load_preset("cpu-small", ["warmup.targets=worked"])
    atgen = {s.name: s.argv for s in build_plan("atgen", "cpu-small", worked, tmp_path).steps}
    for name in ("warmup", "train-sft"):
        assert atgen[name][:1] == ["warmup"]
        assert atgen[name][atgen[name].index("--targets") + 1] == "worked"
    utrl = {s.name: s.argv for s in build_plan("utrl", "cpu-small", worked, tmp_path).steps}
    assert utrl["warmup"][utrl["warmup"].index("--targets") + 1] == "worked"
    assert "sft.targets=worked" in utrl["train-sft"]
    plain = load_preset("cpu-small", ["warmup.targets=plain"])
    for paper in ("atgen", "utrl"):
        argvs = [s.argv for s in build_plan(paper, "cpu-small", plain, tmp_path).steps]
        assert not any("--targets" in a or any(x.startswith("sft.targets") for x in a) for a in argvs)
    with pytest.raises(InputError, match="targets"):
        load_preset("cpu-small", ["warmup.targets=fancy"])
