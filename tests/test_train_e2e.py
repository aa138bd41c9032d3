"""`atest train` end to end on CPU: every mode through the real sandbox and rewards, saving, a kill
between steps and `--resume`, and the bad-input checks that must fire before any model loads.

A random tiny model never writes a parseable test, so every reward would be the same constant
and no program would run. The `primed_model` fixture first teaches the tiny model (a few
seconds of supervised steps) to answer with one well-formed response that holds a test and a
solution; sampled at temperature 1 its answers then vary around it, so rewards differ within
groups, programs run in the sandbox and GRPO has a gradient.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from atest_cli import run_cli

from atest.core.tasks import Task, write_tasks

# One response that parses under every template: a UTRL test (reasoning + fenced Input/Output),
# a python solution (the last fenced python block) and an ATGEN I/O pair.
PRIMED_RESPONSE = (
    "<reasoning>negative first number</reasoning>\n"
    "```\nInput:\n-1 2\n\nOutput:\n1\n```\n"
    "```python\na, b = map(int, input().split())\nprint(a + b)\n```\n"
)


def sum_tasks() -> list[Task]:
    """Stdio tasks whose gold adds an offset; the buggy code takes abs() of the first number."""
    tasks = []
    for i in range(4):
        gold = f"a, b = map(int, input().split())\nprint(a + b + {i})\n"
        tests = [
            {"input": f"{x} {y}\n", "output": f"{x + y + i}\n"}
            for x, y in ((1, 2), (-5, 5), (10, 20), (-3, 1))
        ]
        tasks.append(
            Task(
                task_id=f"sum{i}",
                question=f"Read two integers a and b and print a + b + {i}.",
                kind="stdio",
                gold_solutions=[gold],
                gold_tests=tests,
                buggy_code=[f"a, b = map(int, input().split())\nprint(abs(a) + b + {i})\n"],
            )
        )
    return tasks


@pytest.fixture(scope="module")
def task_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tasks") / "tasks.jsonl"
    write_tasks(path, sum_tasks())
    return path


@pytest.fixture(scope="module")
def primed_model(tiny_model_dir, build_once) -> Path:
    """Built once per test run (every module that imports this fixture shares the folder)."""
    return build_once("primed-model", lambda out: prime(tiny_model_dir, out))


def prime(tiny_model_dir: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from atest.core.parsing import extract_code, parse_tests
    from atest.core.prompts import build_messages

    assert parse_tests(PRIMED_RESPONSE, "stdio", template="utrl-test").tests
    assert parse_tests(PRIMED_RESPONSE, "stdio", template="atgen", max_tests=1).tests
    assert extract_code(PRIMED_RESPONSE)

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model on a shared CPU: one thread is many times faster
    torch.manual_seed(0)
    task = sum_tasks()[0]
    prompts = [
        build_messages("utrl-test", task),
        build_messages("utrl-code", task),
        build_messages("atgen", task, buggy_code=task.buggy_code[0]),
    ]
    batch = []
    for messages in prompts:
        prefix = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = tokenizer(prefix + PRIMED_RESPONSE + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
        n_prefix = len(tokenizer(prefix, add_special_tokens=False)["input_ids"])
        batch.append((ids, n_prefix))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(120):
        for ids, n_prefix in batch:
            input_ids = torch.tensor([ids])
            labels = input_ids.clone()
            labels[0, :n_prefix] = -100
            loss = model(input_ids=input_ids, labels=labels).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    torch.set_num_threads(threads)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def train_cli(
    *args: str, timeout: int = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return run_cli("train", *args, timeout=timeout, env=env)


def read_metrics(out: Path) -> list[dict]:
    from atest.core.training.run.run_dir import METRICS_NAME

    return [json.loads(line) for line in (out / METRICS_NAME).read_text().splitlines()]


def assert_loads_and_generates(model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    ids = tokenizer("Input:", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=4, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    assert out.shape[1] > ids["input_ids"].shape[1]


@pytest.mark.slow
def test_utrl_smoke_runs_every_phase_and_saves_both_roles(tmp_path, primed_model, task_file):
    out = tmp_path / "run"
    model = f"{primed_model}"
    proc = train_cli(
        "--mode", "utrl", "--preset", "cpu-smoke", "--tasks", str(task_file), "--out", str(out), "--json",
        "--set", f"test_model.path={model}", "--set", f"code_model.path={model}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["phases"] == [
        "iter1/opponents", "iter1/test_train", "iter1/gen_tests", "iter1/code_train",
        "iter2/opponents", "iter2/test_train", "iter2/gen_tests", "iter2/code_train",
        "final/test_generator", "final/code_generator",
    ]  # fmt: skip
    for phase in ("iter1/test_train", "iter1/code_train", "iter2/test_train", "iter2/code_train"):
        assert summary["rewards"][phase]["steps"] == 2
    rows = read_metrics(out)
    test_rows = [r for r in rows if r["phase"].endswith("test_train")]
    assert all("utrl_test/discrimination" in r and "utrl_test/format" in r for r in test_rows)
    assert any(r["utrl_test/format"] > 0 for r in test_rows)  # parsed tests reached the sandbox
    assert all("time/reward" in r and "kl" in r and "frac_reward_zero_std" in r for r in rows)
    opponents = [json.loads(x) for x in (out / "iter1/opponents/opponents.jsonl").read_text().splitlines()]
    assert {o["task_id"] for o in opponents} == {t.task_id for t in sum_tasks()}
    # The primed solution prints a + b: correct for sum0 (dropped from its opponents), wrong elsewhere.
    primed_code = "a, b = map(int, input().split())\nprint(a + b)\n"
    by_task = {o["task_id"]: o["opponents"] for o in opponents}
    assert primed_code not in by_task["sum0"]
    assert any(by_task[t] for t in ("sum1", "sum2", "sum3"))
    tests = [json.loads(x) for x in (out / "iter1/gen_tests/tests.jsonl").read_text().splitlines()]
    assert all(t["n_valid"] <= t["n_generated"] for t in tests)
    for role in ("test_generator", "code_generator"):
        assert_loads_and_generates(out / "final" / role)


@pytest.mark.slow
def test_utrl_opponents_from_the_tasks_buggy_codes_sample_nothing(tmp_path, primed_model, task_file):
    """`utrl.opponents_from=buggy_code`: the opponents are each task's own bugs (none sampled);
    `both` adds them to the samples. A correct "bug" would be dropped like a correct sample."""
    out = tmp_path / "run"
    proc = train_cli(
        "--mode", "utrl", "--preset", "cpu-smoke", "--tasks", str(task_file), "--out", str(out), "--json",
        "--set", f"test_model.path={primed_model}", "--set", f"code_model.path={primed_model}",
        "--set", "utrl.opponents_from=buggy_code", "--set", "utrl.iterations=1",
        "--set", "utrl.per_iteration=[{code_steps: 0}]",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout)["phases"] == [
        "iter1/opponents",
        "iter1/test_train",
        "final/test_generator",
    ]
    assert not (out / "iter1/opponents/samples.jsonl").exists()
    rows = [json.loads(x) for x in (out / "iter1/opponents/opponents.jsonl").read_text().splitlines()]
    assert {r["task_id"]: r["opponents"] for r in rows} == {t.task_id: t.buggy_code for t in sum_tasks()}
    ledger = json.loads((out / "run.json").read_text())["phases"]["iter1/opponents"]
    assert ledger["samples"] == 0 and ledger["buggy_codes"] == ledger["opponents"] == 4


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["atgen-static", "atgen-unconditional", "atgen-adaptive"])
def test_atgen_smoke_runs_and_saves_merged_model_and_adapter(tmp_path, primed_model, task_file, mode):
    out = tmp_path / "run"
    # One mode also checks that the global sandbox settings reach training's executor.
    settings = {"ATEST_SANDBOX": "none", "ATEST_SANDBOX_BATCH": "1"} if mode == "atgen-static" else {}
    proc = train_cli(
        "--mode", mode, "--preset", "cpu-smoke", "--tasks", str(task_file), "--out", str(out), "--json",
        "--set", f"test_model.path={primed_model}", "--set", f"atgen.adversary.model={primed_model}",
        env={**os.environ, **settings},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert ("isolation is off" in proc.stderr) == bool(settings)
    summary = json.loads(proc.stdout)
    assert summary["rewards"]["atgen/train"]["steps"] == 3
    assert summary["fast"]["micro_batch"] == 1  # the fast path's one-row loss passes reached TRL
    rows = read_metrics(out)
    assert all(
        {"atgen/format", "atgen/io_accuracy", "atgen/attack", "atgen/attack_rate"} <= set(r) for r in rows
    )
    attempted = sum(r["adversary/attempted"] for r in rows)
    if mode == "atgen-static":
        assert attempted == 0
    if mode == "atgen-unconditional":
        # start_adver_steps is 1 in the preset: every slot seen from step 1 on is resampled
        assert attempted == sum(r["adversary/slots_seen"] for r in rows if r["step"] >= 1) > 0
    assert (out / "final/test_generator_adapter/adapter_config.json").is_file()
    assert not (out / "final/test_generator/adapter_config.json").exists()
    assert_loads_and_generates(out / "final/test_generator")


@pytest.mark.slow
def test_kill_between_steps_then_resume_continues_from_the_checkpoint(tmp_path, primed_model, task_file):
    out = tmp_path / "run"
    args = [
        "--mode", "atgen-unconditional", "--preset", "cpu-smoke", "--tasks", str(task_file), "--out", str(out),
        "--set", f"test_model.path={primed_model}", "--set", f"atgen.adversary.model={primed_model}",
        "--set", "atgen.max_steps=5",
    ]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "atest", "train", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    checkpoints = out / "atgen/train/checkpoints"
    deadline = time.monotonic() + 300
    while not list(checkpoints.glob("checkpoint-*/trainer_state.json")):
        assert proc.poll() is None, "training ended before its first checkpoint"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = max(
        int(p.parent.name.split("-")[1]) for p in checkpoints.glob("checkpoint-*/trainer_state.json")
    )
    assert killed_at < 5

    resumed = train_cli("--resume", "--out", str(out), "--json")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"checkpoint-{killed_at}" in resumed.stderr
    from atest.core.training.run.run_dir import RunDir

    run = RunDir.resume(out)
    steps = [r["step"] for r in run.read_metrics()]
    assert steps == list(range(1, 6))
    ledger = json.loads((out / "run.json").read_text())
    assert [h["event"] for h in ledger["history"]][:2] == ["start", "resume"]
    assert ledger["phases"]["atgen/train"]["steps"] == 5
    assert_loads_and_generates(out / "final/test_generator")


def test_bad_input_is_one_line_before_any_model_loads(tmp_path, task_file):
    no_gold = tmp_path / "no_gold.jsonl"
    write_tasks(no_gold, [Task("a", "q", "stdio", gold_solutions=[], gold_tests=[])])
    no_bugs = tmp_path / "no_bugs.jsonl"
    write_tasks(no_bugs, [Task("a", "q", "stdio", gold_solutions=["print(1)"], gold_tests=[])])
    out = tmp_path / "out"
    cases = [
        (["--mode", "utrl", "--preset", "cpu-smoke", "--set", "grpo.lerning_rate=1"], "grpo.learning_rate"),
        (["--mode", "utrl", "--preset", "cpu-smoke", "--tasks", str(no_gold)], "no task has a gold solution"),
        (
            ["--mode", "atgen-static", "--preset", "cpu-smoke", "--tasks", str(no_bugs)],
            "no task has buggy_code",
        ),
        (["--mode", "utrl", "--preset", "cpu-smoke", "--set", "grpo.bf16=true"], "bf16"),
        (
            [
                "--mode",
                "utrl",
                "--preset",
                "cpu-smoke",
                "--tasks",
                str(task_file),
                "--set",
                "test_model.path=./nope",
            ],
            "nope",
        ),
        (["--resume"], "holds no run"),
    ]
    for args, needle in cases:
        proc = train_cli("--out", str(out), *args, timeout=120)
        assert proc.returncode == 2, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], (args, proc.stderr)
        assert not out.exists()


@pytest.mark.slow
def test_atgen_export_runs_after_the_trainer_is_released(tmp_path, tiny_model_dir, task_file, monkeypatch):
    """The merge at export loads another copy of the base: the trained model and its optimizer
    must be gone by then, or the run's peak memory holds both."""
    import gc
    import weakref

    from trl import GRPOTrainer

    from atest.core.training.phases import atgen_loop
    from atest.core.training.runner import execute, plan_run

    gc.collect()
    earlier = weakref.WeakSet(o for o in gc.get_objects() if isinstance(o, GRPOTrainer))  # other tests'
    alive_at_export: list[int] = []
    export = atgen_loop.export_role

    def counting_export(*args, **kw):
        gc.collect()
        alive_at_export.append(sum(isinstance(o, GRPOTrainer) and o not in earlier for o in gc.get_objects()))
        return export(*args, **kw)

    monkeypatch.setattr(atgen_loop, "export_role", counting_export)
    seen: list[int] = []
    plan = plan_run(
        out=tmp_path / "run",
        mode="atgen-static",
        preset="cpu-smoke",
        overrides=[f"tasks={task_file}", f"test_model.path={tiny_model_dir}", "atgen.max_steps=1"],
    )
    execute(plan, on_metrics=lambda row: seen.append(row["step"]))
    assert seen == [1]
    assert alive_at_export == [0]
