"""`train --print-config`, and the modes beside the adversarial loops: `codegen` (a code generator
trained against generated tests) and `sft` (UTRL's supervised baseline), end to end on CPU."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from atest_cli import run_cli

from atest.core.tasks import Task, write_tasks
from atest.core.training.run.run_dir import METRICS_NAME


def train_cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return run_cli("train", *args, timeout=timeout)


def sum_task(i: int, prefix: str = "sum") -> Task:
    gold = f"a, b = map(int, input().split())\nprint(a + b + {i})\n"
    tests = [{"input": f"{x} {y}\n", "output": f"{x + y + i}\n"} for x, y in ((1, 2), (-5, 5), (10, 20))]
    return Task(
        task_id=f"{prefix}{i}",
        question=f"Read two integers a and b and print a + b + {i}.",
        kind="stdio",
        gold_solutions=[gold],
        gold_tests=tests,
    )


@pytest.fixture
def task_file(tmp_path) -> Path:
    path = tmp_path / "tasks.jsonl"
    write_tasks(path, [sum_task(i) for i in range(4)])
    return path


@pytest.fixture
def tests_file(tmp_path) -> Path:
    """One right and one wrong test per task: only the one the gold solution reproduces is kept."""
    path = tmp_path / "tests.jsonl"
    rows = [
        {
            "task_id": f"sum{i}",
            "tests": [{"input": "2 3\n", "output": f"{5 + i}\n"}, {"input": "2 3\n", "output": "-1\n"}],
        }
        for i in range(4)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def read_metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / METRICS_NAME).read_text().splitlines()]


# -- --print-config ---------------------------------------------------------------------------


def test_print_config_prints_the_resolved_config_and_touches_nothing(tmp_path):
    out = tmp_path / "never"
    proc = train_cli(
        "--mode", "utrl", "--preset", "cpu-smoke", "--set", "grpo.learning_rate=3e-5", "--out", str(out),
        "--print-config",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    config = json.loads(proc.stdout)
    assert config["mode"] == "utrl" and config["grpo"]["learning_rate"] == 3e-5
    assert config["test_model"]["path"] == "tiny-random"  # the preset over the paper file
    assert config["utrl"]["exclude_correct_opponents"] is True  # the preset's base is atest/configs/atest
    assert not out.exists()


def test_print_config_of_the_paper_file_needs_no_out_and_shows_the_authors_values():
    proc = train_cli("--mode", "utrl", "--print-config")
    assert proc.returncode == 0, proc.stderr
    config = json.loads(proc.stdout)
    assert config["grpo"]["num_generations"] == 8 and config["grpo"]["warmup_steps"] == 0.01
    assert config["utrl"]["per_iteration"][1] == {
        "test_steps": 100,
        "code_steps": 0,
        "grpo": {"learning_rate": 5e-6},
    }


def test_print_config_rejects_a_bad_key_with_exit_2():
    proc = train_cli("--mode", "sft", "--set", "sft.lr=1", "--print-config")
    assert proc.returncode == 2 and proc.stdout == ""
    assert "did you mean 'sft.learning_rate'" in proc.stderr


def test_print_config_under_resume_reads_the_saved_config(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    first = train_cli("--mode", "sft", "--preset", "cpu-smoke", "--print-config")
    saved = json.loads(first.stdout)
    (run / "config.yaml").write_text(json.dumps(saved))  # JSON is YAML
    proc = train_cli("--resume", "--out", str(run), "--set", "sft.max_steps=7", "--print-config")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["sft"]["max_steps"] == 7
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml"]


def test_new_run_without_out_is_bad_input():
    proc = train_cli("--mode", "sft", "--preset", "cpu-smoke")
    assert proc.returncode == 2 and "--out is required" in proc.stderr


# -- bad input of the new modes, before any model loads --------------------------------------


def test_codegen_refuses_evaluation_tasks_that_are_training_tasks(tmp_path, task_file, tests_file):
    proc = train_cli(
        "--mode", "codegen", "--preset", "cpu-smoke", "--tasks", str(task_file), "--out", str(tmp_path / "o"),
        "--tests", str(tests_file), "--set", f"codegen.eval_tasks={task_file}",
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "also training tasks" in proc.stderr and "prepare --exclude" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_codegen_takes_tests_or_a_test_model_not_both(tmp_path, task_file):
    proc = train_cli(
        "--mode", "codegen", "--preset", "cpu-smoke", "--out", str(tmp_path / "o"),
        "--tests", str(task_file), "--test-model", "tiny-random",
    )  # fmt: skip
    assert proc.returncode == 2 and "give one of them" in proc.stderr


# -- end to end -------------------------------------------------------------------------------


@pytest.mark.slow
def test_codegen_trains_on_a_tests_file_and_evaluates_held_out_tasks(
    tmp_path, task_file, tests_file, tiny_model_dir
):
    held_out = tmp_path / "eval.jsonl"
    write_tasks(held_out, [sum_task(i, prefix="eval") for i in range(2)])
    out = tmp_path / "run"
    proc = train_cli(
        "--mode", "codegen", "--preset", "cpu-smoke", "--tasks", str(task_file), "--out", str(out), "--json",
        "--tests", str(tests_file), "--set", f"code_model.path={tiny_model_dir}",
        "--set", f"codegen.eval_tasks={held_out}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["phases"] == [
        "codegen/eval_before", "codegen/tests", "iter1/code_train", "codegen/eval_after", "final/code_generator",
    ]  # fmt: skip
    assert summary["rewards"]["iter1/code_train"]["steps"] == 2
    kept = [json.loads(x) for x in (out / "codegen/tests/tests.jsonl").read_text().splitlines()]
    assert all(len(row["tests"]) == 1 and row["tests"][0]["output"] != "-1\n" for row in kept)
    rows = read_metrics(out)
    train_rows = [r for r in rows if r["phase"] == "iter1/code_train"]
    assert all(r["utrl_code/n_valid"] == 1 for r in train_rows)  # the file's valid test is the reward's
    evals = {r["phase"]: r for r in rows if "eval/pass_rate" in r}
    assert set(evals) == {"codegen/eval_before", "codegen/eval_after"}
    assert all(r["eval/tasks"] == 2 and 0.0 <= r["eval/pass_rate"] <= 1.0 for r in evals.values())
    ledger = json.loads((out / "run.json").read_text())
    assert ledger["phases"]["codegen/eval_after"]["tasks"] == 2
    assert (out / "final/code_generator/config.json").is_file()
    assert not (out / "final/test_generator").exists()


@pytest.mark.slow
def test_sft_fine_tunes_on_gold_tests_and_exports_the_test_generator(tmp_path, task_file, tiny_model_dir):
    from transformers import AutoModelForCausalLM

    out = tmp_path / "run"
    proc = train_cli(
        "--mode", "sft", "--preset", "cpu-smoke", "--tasks", str(task_file), "--out", str(out), "--json",
        "--set", f"test_model.path={tiny_model_dir}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["phases"] == ["sft/train", "final/test_generator"]
    rows = read_metrics(out)
    assert [r["step"] for r in rows] == [1, 2] and all(r["loss"] > 0 for r in rows)
    assert (out / "sft/train/checkpoints/checkpoint-2/trainer_state.json").is_file()
    trained = AutoModelForCausalLM.from_pretrained(out / "final/test_generator")
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    changed = [
        name
        for (name, p), (_, q) in zip(trained.named_parameters(), base.named_parameters(), strict=True)
        if not p.detach().equal(q.detach())
    ]
    assert changed  # the weights moved
    # A resumed run that is done already changes nothing and exits 0.
    again = train_cli("--resume", "--out", str(out), "--json")
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads(again.stdout)["phases"] == ["sft/train", "final/test_generator"]


# -- validation and checkpoint selection --------------------------------------------------------


def test_select_must_be_best_last_or_step_n():
    proc = train_cli(
        "--mode", "codegen", "--preset", "cpu-smoke", "--set", "validation.select=first", "--print-config"
    )
    assert proc.returncode == 2 and "use best, last or 'step N'" in proc.stderr


def test_select_step_beyond_a_phase_is_refused_before_training(tmp_path, task_file, tests_file):
    proc = train_cli(
        "--mode", "codegen", "--preset", "cpu-smoke", "--tasks", str(task_file), "--out", str(tmp_path / "o"),
        "--tests", str(tests_file), "--set", "validation.select=step 3",
    )  # fmt: skip
    assert proc.returncode == 2 and "a phase trains only 2 steps" in proc.stderr


def test_select_best_needs_validation_tasks(tmp_path, task_file, tests_file):
    proc = train_cli(
        "--mode", "codegen", "--preset", "cpu-smoke", "--tasks", str(task_file), "--out", str(tmp_path / "o"),
        "--tests", str(tests_file), "--set", "validation.select=best",
    )  # fmt: skip
    assert proc.returncode == 2 and "validation.tasks is not set" in proc.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_validation_every_step_and_the_best_policy_is_exported(
    tmp_path, task_file, tests_file, tiny_model_dir
):
    held_out = tmp_path / "val.jsonl"
    write_tasks(held_out, [sum_task(i, prefix="val") for i in range(2)])
    out = tmp_path / "run"
    proc = train_cli(
        "--mode", "codegen", "--preset", "cpu-smoke", "--tasks", str(task_file), "--out", str(out), "--json",
        "--tests", str(tests_file), "--set", f"code_model.path={tiny_model_dir}",
        "--set", f"validation.tasks={held_out}", "--set", "validation.eval_steps=1",
        "--set", "validation.select=best",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [r for r in read_metrics(out) if "val/score" in r]
    assert [(r["phase"], r["step"]) for r in rows] == [("iter1/code_train/validation", s) for s in (0, 1, 2)]
    assert all(r["val/pass_rate"] == r["val/score"] for r in rows)
    state = json.loads((out / "iter1/code_train/validation.json").read_text())
    best = max(rows, key=lambda r: r["val/score"])  # the first of the best: later ties do not replace it
    assert state["best"]["step"] == min(r["step"] for r in rows if r["val/score"] == best["val/score"])
    ledger = json.loads((out / "run.json").read_text())
    assert ledger["phases"]["iter1/code_train"]["model"] == "iter1/code_train/best"
    assert ledger["phases"]["iter1/code_train"]["selected"] == "best"
    shown = json.loads(proc.stdout)["validation"]["iter1/code_train/validation"]
    assert shown["validations"] == 3 and shown["best_step"] == state["best"]["step"]
    assert (out / "final/code_generator/config.json").is_file()


@pytest.mark.slow
def test_utrl_without_an_iteration_2_code_phase_validates_both_roles_and_pins_steps(
    tmp_path, task_file, tiny_model_dir
):
    """The paper config's shape: iteration 2 trains the test generator only (code_steps 0), and
    `select: step N` hands on the step-N policy; validation scores both roles from step 0."""
    held_out = tmp_path / "val.jsonl"
    wrong = "a, b = map(int, input().split())\nprint(a - b)\n"
    val = [sum_task(i, prefix="val") for i in range(2)]
    for task in val:
        task.candidates = {"m": [task.gold_solutions[0], wrong]}
    write_tasks(held_out, val)
    out = tmp_path / "run"
    proc = train_cli(
        "--mode", "utrl", "--preset", "cpu-smoke", "--tasks", str(task_file), "--out", str(out), "--json",
        "--set", f"test_model.path={tiny_model_dir}", "--set", f"code_model.path={tiny_model_dir}",
        "--set", "utrl.test_steps=1", "--set", "utrl.code_steps=1", "--set", "grpo.max_completion_length=32",
        "--set", "utrl.opponents.n=2", "--set", "utrl.per_iteration=[{}, {code_steps: 0}]",
        "--set", f"validation.tasks={held_out}", "--set", "validation.eval_steps=1",
        "--set", "validation.select=step 1",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["phases"] == [
        "iter1/opponents", "iter1/test_train", "iter1/gen_tests", "iter1/code_train",
        "iter2/opponents", "iter2/test_train", "final/test_generator", "final/code_generator",
    ]  # fmt: skip
    ledger = json.loads((out / "run.json").read_text())["phases"]
    assert ledger["iter1/test_train"]["model"] == "iter1/test_train/step-1"
    assert ledger["iter2/test_train"]["model"] == "iter2/test_train/step-1"
    validated = {(r["phase"], r["step"]) for r in read_metrics(out) if "val/score" in r}
    assert validated == {
        (f"{phase}/validation", step)
        for phase in ("iter1/test_train", "iter1/code_train", "iter2/test_train")
        for step in (0, 1)
    }
    test_rows = [r for r in read_metrics(out) if r["phase"] == "iter1/test_train/validation"]
    assert all({"val/format", "val/discrimination", "val/validity"} <= set(r) for r in test_rows)
    # A random model writes no test: every candidate ties, one of the two is right -> 0.5.
    assert all(r["val/bon_accuracy"] == 0.5 for r in test_rows)


def test_sft_paper_config_on_cpu_is_refused_before_any_model_loads(tmp_path, task_file):
    proc = train_cli(
        "--mode", "sft", "--tasks", str(task_file), "--out", str(tmp_path / "o"), "--set", "device=cpu"
    )
    assert proc.returncode == 2 and "--set sft.bf16=false" in proc.stderr
    assert not (tmp_path / "o").exists()
