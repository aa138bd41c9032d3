"""Format warm-up: targets that parse back to the tasks' gold tests, and a real SFT run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from atest_cli import run_cli

from atest.core.checking import input_size
from atest.core.errors import InputError
from atest.core.parsing import parse_tests
from atest.core.sandbox import Job, Limits, Program, Verdict, get_executor, judge
from atest.core.tasks import read_tasks
from atest.core.training.warmup import WarmupOptions, build_examples, run_warmup

SMOKE_TASKS = Path("atest/configs/cpu-smoke/tasks.jsonl")


@pytest.fixture(scope="module")
def tasks():
    loaded, _ = read_tasks(SMOKE_TASKS)
    return loaded


def test_utrl_targets_parse_back_to_the_gold_tests(tasks):
    with get_executor(workers=2) as executor:
        examples = build_examples(tasks, WarmupOptions(template="utrl-test", n_tests=3), executor, Limits())
    assert len(examples) == len(tasks)
    for task, example in zip(tasks, examples, strict=True):
        text = example["completion"][0]["content"]
        assert parse_tests(text, task.kind, template="utrl-test").tests == task.gold_tests[:3]
        assert example["prompt"][-1]["role"] == "user"


def _atgen_targets(tasks, examples):
    """(task, buggy code, target text) for each ATGEN example, matched by its prompt."""
    from atest.core.prompts import build_messages

    by_prompt = {json.dumps(e["prompt"]): e["completion"][0]["content"] for e in examples}
    for task in tasks:
        for code in task.buggy_code:
            text = by_prompt.get(json.dumps(build_messages("atgen", task, buggy_code=code)))
            if text is not None:
                yield task, code, text


@pytest.mark.parametrize("targets", ["plain", "worked"])
def test_atgen_targets_expose_the_bug(tasks, targets):
    with get_executor(workers=2) as executor:
        examples = build_examples(tasks, WarmupOptions(template="atgen", targets=targets), executor, Limits())
        checked = 0
        for task, code, text in _atgen_targets(tasks, examples):
            (test,) = parse_tests(text, task.kind, template="atgen").tests
            gold, buggy = executor.run(
                [
                    Job(Program(p, task.kind, task.fn_name), test["input"])
                    for p in (task.gold_solutions[0], code)
                ]
            )
            assert judge(gold, test["output"], task.kind) is Verdict.ACCEPTED
            assert judge(buggy, test["output"], task.kind) is not Verdict.ACCEPTED
            checked += 1
    assert checked == len(examples) > 0


def test_worked_atgen_targets_take_the_shortest_failing_input_and_state_both_outputs(tasks):
    from atest.core.prompts import render_value

    def inline(value, kind):
        return " | ".join(render_value(value, kind).splitlines())

    with get_executor(workers=2) as executor:
        examples = build_examples(
            tasks, WarmupOptions(template="atgen", targets="worked"), executor, Limits()
        )
        checked = 0
        for task, code, text in _atgen_targets(tasks, examples):
            (test,) = parse_tests(text, task.kind, template="atgen").tests
            runs = executor.run(
                [Job(Program(code, task.kind, task.fn_name), t["input"]) for t in task.gold_tests]
            )
            failing = [
                (t, r) for t, r in zip(task.gold_tests, runs, strict=True)
                if judge(r, t["output"], task.kind) is not Verdict.ACCEPTED
            ]  # fmt: skip
            [(chosen, buggy_run)] = [(t, r) for t, r in failing if t["input"] == test["input"]]
            assert input_size(chosen["input"]) == min(input_size(t["input"]) for t, _ in failing)
            reasoning = text.split("</reasoning>")[0]
            verb = "prints" if task.kind == "stdio" else "returns"
            assert reasoning.endswith(f"but a correct solution {verb} {inline(test['output'], task.kind)}.")
            if buggy_run.output is not None:
                assert f"the code above {verb} {inline(buggy_run.output, task.kind)}," in reasoning
            checked += 1
    assert checked == len(examples) > 0


def test_worked_utrl_targets_are_the_simplest_gold_tests(tasks):
    with get_executor(workers=1) as executor:
        examples = build_examples(
            tasks, WarmupOptions(template="utrl-test", n_tests=2, targets="worked"), executor, Limits()
        )
    for task, example in zip(tasks, examples, strict=True):
        text = example["completion"][0]["content"]
        tests = parse_tests(text, task.kind, template="utrl-test").tests
        sizes = sorted(input_size(t["input"]) for t in task.gold_tests)
        assert sorted(input_size(t["input"]) for t in tests) == sizes[:2]
        assert text.count("a correct solution") == len(tests) == 2


def test_unknown_targets_are_refused_before_any_work(tmp_path):
    with pytest.raises(InputError, match="--targets"):
        WarmupOptions(template="atgen", targets="fancy")
    result = run_cli(
        "warmup",
        "--tasks",
        str(SMOKE_TASKS),
        "--prompt",
        "atgen",
        "--targets",
        "fancy",
        "--out",
        str(tmp_path / "w"),
    )
    assert result.returncode == 2 and "--targets 'fancy': use one of plain, worked" in result.stderr
    assert not (tmp_path / "w").exists()


def test_atgen_without_buggy_code_is_a_clear_error(tasks):
    plain = [t.__class__(**{**t.__dict__, "buggy_code": []}) for t in tasks]
    with get_executor(workers=1) as executor, pytest.raises(InputError, match="warm-up"):
        build_examples(plain, WarmupOptions(template="atgen"), executor, Limits())


def test_warmup_trains_saves_and_the_loss_falls(tiny_model_dir, tasks, tmp_path):
    with get_executor(workers=2) as executor:
        examples = build_examples(tasks, WarmupOptions(template="utrl-test", n_tests=2), executor, Limits())
    out = tmp_path / "warm"
    summary = run_warmup(
        str(tiny_model_dir), examples, out, WarmupOptions(steps=12, learning_rate=3e-3, batch_size=4)
    )
    assert summary.loss_last < summary.loss_first
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert AutoModelForCausalLM.from_pretrained(out) is not None
    assert AutoTokenizer.from_pretrained(out) is not None
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left


def test_cli_refuses_to_overwrite(tmp_path):
    out = tmp_path / "exists"
    out.mkdir()
    proc = run_cli(
        "warmup", "--tasks", str(SMOKE_TASKS), "--model", "tiny-random", "--out", str(out), "--json"
    )
    assert proc.returncode == 2 and "--force" in proc.stderr
    error = json.loads(proc.stdout)["error"]  # with --json a failure is one JSON object on stdout
    assert error["exit_code"] == 2 and error["kind"] == "bad_input" and "--force" in (error["hint"] or "")


def test_cli_max_length_below_every_prompt_is_bad_input(tmp_path):
    """A --max-length that the prompts fill leaves nothing to learn: one line naming the fix, exit 2,
    and no model folder (it was a torch ValueError and exit 3)."""
    out = tmp_path / "warm"
    proc = run_cli(
        "warmup", "--tasks", str(SMOKE_TASKS), "--model", "tiny-random", "--prompt", "atgen",
        "--steps", "1", "--max-length", "64", "--out", str(out), "--json",
    )  # fmt: skip
    error = json.loads(proc.stdout)["error"]
    assert proc.returncode == 2 and error["kind"] == "bad_input", proc.stderr[-2000:]
    assert "--max-length 64" in error["message"] and "raise --max-length" in error["hint"]
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
