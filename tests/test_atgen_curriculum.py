"""ATGEN's curriculum end to end: an accepted adversarial code becomes the slot's buggy code in the
next step's prompts and rewards (unconditional: every trained slot; adaptive: only a slot whose
bug the policy caught), and it is still there after a kill and `--resume`.

The test generator is the primed tiny model of test_train_e2e (it answers the test `-1 2` ->
`1`: correct for task sum0 only, and an attack on its abs() bug). The adversary is a scripted
OpenAI-compatible server: for task sum<i> it writes code that is right except when a == 10, so
it fails the gold test `10 20` and passes every test the policy writes. The trainer's own
calls are recorded on the way through (the rows it refreshes at generation time, the reward's
buggy-code column); nothing is replaced by a stand-in.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import test_train_e2e

from atest.core.tasks import write_tasks
from atest.core.training.phases import atgen_loop, reward_fns
from atest.core.training.runner import execute, plan_run

# The primed model and its task file, shared with the other end-to-end training tests.
primed_model = test_train_e2e.primed_model
task_file = test_train_e2e.task_file


def adversarial_code(i: int) -> str:
    return f"a, b = map(int, input().split())\nprint(a + b + {i} if a != 10 else 0)\n"


class ScriptedAdversary:
    """Answers a code prompt for task sum<i> with `adversarial_code(i)` in a python block."""

    def generate(self, prompts, params):
        from atest.core.generation import Completion

        out = []
        for messages in prompts:
            i = int(re.search(r"print a \+ b \+ (\d+)", messages[-1]["content"]).group(1))
            text = f"```python\n{adversarial_code(i)}```\n"
            out.append([Completion(text, 20, "stop", None) for _ in range(params.n)])
        return out


class Interrupted(Exception):
    """Raised by the recorder to stop training the way a kill would: between two steps."""


@pytest.fixture
def adversary(monkeypatch):
    from chat_server import ChatServer

    monkeypatch.setenv("OPENAI_API_KEY", "unused")
    server = ChatServer(ScriptedAdversary(), model_name="scripted").start()
    yield server
    server.stop()


@pytest.fixture
def recorded(monkeypatch):
    """What the trainer showed (refreshed rows) and what the reward judged, per step."""
    calls: dict[str, list[tuple[int, str, str, str]]] = {"prompts": [], "rewards": []}
    stop_at: dict[str, int | None] = {"step": None}
    refresh = atgen_loop.AtgenHooks.refresh_inputs
    reward_call = reward_fns.AtgenReward.__call__
    steps: list[int] = []

    def refresh_inputs(self, inputs, step):
        if stop_at["step"] is not None and step == stop_at["step"]:
            raise Interrupted
        rows = refresh(self, inputs, step)
        steps.append(step)
        for row in rows:
            calls["prompts"].append((step, row["task_id"], row["buggy_code"], row["prompt"][-1]["content"]))
        return rows

    def reward(self, prompts, completions, task_id, slot, buggy_code, on_current, **kw):
        for t, code in zip(task_id, buggy_code, strict=True):
            calls["rewards"].append((steps[-1], t, code, ""))
        return reward_call(self, prompts, completions, task_id, slot, buggy_code, on_current, **kw)

    monkeypatch.setattr(atgen_loop.AtgenHooks, "refresh_inputs", refresh_inputs)
    monkeypatch.setattr(reward_fns.AtgenReward, "__call__", reward)
    return calls, stop_at


def run(
    out, mode: str, model, tasks, server, *, steps: int = 3, resume: bool = False, extra: tuple[str, ...] = ()
) -> Any:
    overrides = (
        []
        if resume
        else [
            f"tasks={tasks}", f"test_model.path={model}", "max_tasks=2", f"atgen.max_steps={steps}",
            "grpo.temperature=0.3", "atgen.replay_prob=0", "atgen.start_adver_steps=1",
            # the chat template exactly as the model was primed with (no enable_thinking switch)
            "grpo.extra.chat_template_kwargs={}",
            "atgen.adversary.backend=openai", "atgen.adversary.model=scripted",
            f"atgen.adversary.base_url={server.base_url}", *extra,
        ]
    )  # fmt: skip
    plan = plan_run(out=out, mode=None if resume else mode, preset=None if resume else "cpu-smoke",
                    overrides=overrides, resume=resume)  # fmt: skip
    return execute(plan)


def shown(calls, kind: str, step: int) -> dict[str, str]:
    return {task: code for s, task, code, _ in calls[kind] if s == step}


@pytest.mark.slow
def test_unconditional_accepted_code_is_the_next_steps_bug_and_survives_a_kill(
    tmp_path, primed_model, task_file, adversary, recorded
):
    calls, stop_at = recorded
    out = tmp_path / "run"
    stop_at["step"] = 2  # generation of the third step: checkpoint-2 is written
    with pytest.raises(Interrupted):
        run(out, "atgen-unconditional", primed_model, task_file, adversary)
    originals = {f"sum{i}": f"a, b = map(int, input().split())\nprint(abs(a) + b + {i})\n" for i in range(2)}
    # Step 0 and 1 (global steps) show the initial bugs; after the first optimizer step every
    # trained slot is replaced (start_adver_steps 1), so the second shows the adversary's code.
    assert shown(calls, "prompts", 0) == originals
    replaced = {f"sum{i}": adversarial_code(i) for i in range(2)}
    assert shown(calls, "prompts", 1) == replaced
    assert shown(calls, "rewards", 1) == replaced
    assert all(code in prompt for s, _, code, prompt in calls["prompts"] if s == 1)

    calls["prompts"].clear()
    calls["rewards"].clear()
    stop_at["step"] = None
    summary = run(out, "atgen-unconditional", primed_model, task_file, adversary, resume=True)
    assert summary.phases[-1] == "final/test_generator"
    # Resumed from checkpoint-2: the live codes come back from its saved state, not the task file.
    assert shown(calls, "prompts", 2) == replaced and shown(calls, "rewards", 2) == replaced


@pytest.mark.slow
def test_adaptive_replaces_only_the_bug_the_policy_caught(
    tmp_path, primed_model, task_file, adversary, recorded
):
    calls, _ = recorded
    out = tmp_path / "run"
    # One held-out task validates the policy (greedy) at steps 0, 1 and 2.
    val = test_train_e2e.sum_tasks()[0]
    val.task_id = "val0"
    write_tasks(tmp_path / "val.jsonl", [val])
    extra = (f"validation.tasks={tmp_path / 'val.jsonl'}", "validation.eval_steps=1")
    summary = run(out, "atgen-adaptive", primed_model, task_file, adversary, steps=2, extra=extra)
    # The primed test "-1 2" -> "1" is right for sum0 and exposes its abs() bug: caught, so
    # replaced. For sum1 the expected output is 2: not accurate, the bug is not caught and stays.
    after = shown(calls, "prompts", 1)
    assert after["sum0"] == adversarial_code(0)
    assert after["sum1"] == "a, b = map(int, input().split())\nprint(abs(a) + b + 1)\n"
    assert shown(calls, "rewards", 1) == after
    validated = summary.validation["atgen/train/validation"]
    assert validated["validations"] == 3 and 0.0 <= validated["score_best"] <= 1.0
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    val_rows = [r for r in rows if r["phase"] == "atgen/train/validation"]
    assert [r["step"] for r in val_rows] == [0, 1, 2]
    assert all(r["val/attack_rate"] <= r["val/io_accuracy"] for r in val_rows)  # attacks need a right output
