"""UTRL: a test generator and a code generator trained in alternation, each against the other.

One iteration is four phases, each with its artifacts under `iter<i>/<phase>/`:

1. `opponents`: K solutions per task sampled from the current code generator (or the tasks' own
   buggy codes, `utrl.opponents_from`); the ones that pass every gold test are dropped (they are
   not bugs to find), as are responses with no code.
2. `test_train`: GRPO on the test generator with the discrimination reward against them.
3. `gen_tests`: the trained test generator writes tests for every task; only tests whose
   output the gold solution reproduces are kept.
4. `code_train`: GRPO on the code generator with the pass rate on those tests as reward.

The two roles are separate models (or separate LoRA adapters), never one policy grading
itself. Each role continues from its previous phase's result in the next iteration.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from atest.core.io import write_jsonl_atomic
from atest.core.training.config import grpo_for_iteration, steps_for_iteration
from atest.core.training.phases.judging import correct_codes, valid_tests
from atest.core.training.phases.reward_fns import UtrlCodeReward, UtrlTestReward
from atest.core.training.phases.sampling import open_generator, release_memory, sample_resumable
from atest.core.training.phases.validation import CODE, TEST, ValidationRole, Validator
from atest.core.training.run import ranks
from atest.core.training.run.context import LoopContext
from atest.core.training.run.export import export_role
from atest.core.training.trainer.grpo import build_grpo_config, load_policy, run_grpo_phase

PHASES = ("opponents", "test_train", "gen_tests", "code_train")


def run_utrl(ctx: LoopContext) -> dict[str, Path]:
    cfg = ctx.config
    test_model: Path | None = None  # None: the base model
    code_model: Path | None = None
    for it in range(1, cfg.utrl.iterations + 1):
        opponents = opponents_phase(ctx, it, code_model)
        test_model = test_train_phase(ctx, it, test_model, opponents)
        if steps_for_iteration(cfg, it)[1] == 0:
            continue  # the authors trained no iteration-2 code generator
        tests = gen_tests_phase(ctx, it, test_model)
        code_model = code_train_phase(ctx, it, code_model, tests)
    assert test_model is not None
    models = {"test_generator": export_role(ctx, "test_generator", test_model, ctx.base_dirs["test"])}
    if code_model is not None:
        models["code_generator"] = export_role(ctx, "code_generator", code_model, ctx.base_dirs["code"])
    return models


def _phase(it: int, name: str) -> str:
    return f"iter{it}/{name}"


def _policy_dir(ctx: LoopContext, role: str, current: Path | None) -> str:
    return str(current) if current is not None else ctx.base_dirs[role]


def opponents_phase(ctx: LoopContext, it: int, code_model: Path | None) -> dict[str, list[str]]:
    name = _phase(it, "opponents")
    out = ctx.run.phase_dir(name)
    if not ctx.run.is_done(name):
        # Every process of a launch samples and checks its share of the tasks; the main one writes.
        start = time.perf_counter()
        stats = _sample_opponents(ctx, name, out, it, code_model)
        ctx.mark_done(name, **stats, seconds=round(time.perf_counter() - start, 3))
    return _read_opponents(out / "opponents.jsonl")


def _sample_opponents(
    ctx: LoopContext, name: str, out: Path, it: int, code_model: Path | None
) -> dict[str, int]:
    from atest.core.generation import SamplingParams
    from atest.core.parsing import extract_code
    from atest.core.prompts import build_messages

    cfg = ctx.config
    source = cfg.utrl.opponents_from
    rows: list[dict[str, Any]] = []
    if source != "buggy_code":
        sampling = cfg.utrl.opponents
        ctx.on_event(f"{name}: sampling {sampling.n} solutions per task from the code generator")
        params = SamplingParams(
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_new_tokens=sampling.max_new_tokens,
            n=sampling.n,
            seed=cfg.seed + it,
        )
        thinking = cfg.code_model.thinking
        with open_generator(
            cfg.utrl.generation_backend, _policy_dir(ctx, "code", code_model), base_dir=ctx.base_dirs["code"]
        ) as generator:
            rows = sample_resumable(
                out / "samples.jsonl",
                ctx.tasks,
                generator=generator,
                params=params,
                build_prompt=lambda t: build_messages("utrl-code", t, thinking=thinking),
                to_row=lambda t, texts: {"task_id": t.task_id, "responses": texts},
            )
    drop = cfg.utrl.drop_codeless_opponents
    codes = {
        row["task_id"]: [c or "" for c in map(extract_code, row["responses"]) if c or not drop]
        for row in rows
    }
    if source != "model":
        ctx.on_event(f"{name}: the tasks' buggy codes join the opponents (utrl.opponents_from={source})")
        for task in ctx.tasks:
            codes[task.task_id] = [*codes.get(task.task_id, []), *task.buggy_code]
    items = [(task, codes.get(task.task_id, [])) for task in ctx.tasks]
    correct = (
        ranks.map_sharded(lambda part: correct_codes(ctx.executor, part, ctx.limits), items)
        if cfg.utrl.exclude_correct_opponents
        else [[False] * len(c) for _, c in items]
    )
    opponents = {
        task.task_id: [c for c, ok in zip(cs, flags, strict=True) if not ok]
        for (task, cs), flags in zip(items, correct, strict=True)
    }
    if ctx.is_main:
        write_jsonl_atomic(
            out / "opponents.jsonl", ({"task_id": k, "opponents": v} for k, v in opponents.items())
        )
    n_samples = sum(len(r["responses"]) for r in rows)
    n_kept = sum(len(c) for _, c in items)
    n_correct = sum(sum(f) for f in correct)
    stats = {
        "samples": n_samples,
        "buggy_codes": sum(len(t.buggy_code) for t in ctx.tasks) if source != "model" else 0,
        "with_code": sum(1 for _, cs in items for c in cs if c),
        "correct_dropped": n_correct,
        "opponents": n_kept - n_correct,
        "tasks_without_opponents": sum(1 for v in opponents.values() if not v),
    }
    ctx.on_event(f"{name}: " + ", ".join(f"{k} {v}" for k, v in stats.items()))
    return stats


def _read_opponents(path: Path) -> dict[str, list[str]]:
    from atest.core.io import read_jsonl_resumable

    return {row["task_id"]: row["opponents"] for row in read_jsonl_resumable(path)}


def test_train_phase(
    ctx: LoopContext, it: int, test_model: Path | None, opponents: dict[str, list[str]]
) -> Path:
    from datasets import Dataset

    from atest.core.prompts import build_messages

    name = _phase(it, "test_train")
    out = ctx.run.phase_dir(name)
    if ctx.run.is_done(name):
        return ctx.run.root / ctx.run.phase_info(name)["model"]
    cfg = ctx.config
    rows = [
        {
            "prompt": build_messages(
                "utrl-test", t, thinking=cfg.test_model.thinking, n_tests=cfg.utrl.n_tests
            ),
            "task_id": t.task_id,
            "opponents": opponents.get(t.task_id, []),
        }
        for t in ctx.tasks
    ]
    reward = UtrlTestReward(ctx.tasks_by_id, ctx.executor, cfg.utrl, ctx.limits)
    steps = steps_for_iteration(cfg, it)[0]
    return _train(ctx, name, out, "test", TEST, test_model, Dataset.from_list(rows), [reward], it, steps)


def gen_tests_phase(ctx: LoopContext, it: int, test_model: Path) -> dict[str, list[dict[str, Any]]]:
    name = _phase(it, "gen_tests")
    out = ctx.run.phase_dir(name)
    if not ctx.run.is_done(name):
        start = time.perf_counter()
        stats = _generate_tests(ctx, name, out, it, test_model)
        ctx.mark_done(name, **stats, seconds=round(time.perf_counter() - start, 3))
    return _read_tests(out / "tests.jsonl")


def _generate_tests(ctx: LoopContext, name: str, out: Path, it: int, test_model: Path) -> dict[str, int]:
    from atest.core.generation import SamplingParams
    from atest.core.prompts import build_messages

    cfg = ctx.config
    sampling = cfg.utrl.gen_tests
    ctx.on_event(f"{name}: the trained test generator writes tests for {len(ctx.tasks)} tasks")
    params = SamplingParams(
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        max_new_tokens=sampling.max_new_tokens,
        n=sampling.n,
        seed=cfg.seed + 1000 + it,
    )
    thinking, n_tests = cfg.test_model.thinking, cfg.utrl.n_tests
    with open_generator(cfg.utrl.generation_backend, test_model, base_dir=ctx.base_dirs["test"]) as generator:
        rows = sample_resumable(
            out / "responses.jsonl",
            ctx.tasks,
            generator=generator,
            params=params,
            build_prompt=lambda t: build_messages("utrl-test", t, thinking=thinking, n_tests=n_tests),
            to_row=lambda t, texts: {"task_id": t.task_id, "responses": texts},
        )
    responses = {row["task_id"]: row["responses"] for row in rows}
    parsed = [_unique_tests(task, responses.get(task.task_id, [])) for task in ctx.tasks]
    kept = ranks.map_sharded(
        lambda part: valid_tests(ctx.executor, [t for t, _ in part], [p for _, p in part], ctx.limits),
        list(zip(ctx.tasks, parsed, strict=True)),
    )
    tests = {task.task_id: rows for task, rows in zip(ctx.tasks, kept, strict=True)}
    if ctx.is_main:
        write_jsonl_atomic(
            out / "tests.jsonl",
            (
                {
                    "task_id": t.task_id,
                    "tests": tests[t.task_id],
                    "n_generated": len(p),
                    "n_valid": len(tests[t.task_id]),
                }
                for t, p in zip(ctx.tasks, parsed, strict=True)
            ),
        )
    stats = {
        "generated": sum(len(p) for p in parsed),
        "valid": sum(len(v) for v in kept),
        "tasks_without_valid_tests": sum(1 for v in kept if not v),
    }
    ctx.on_event(f"{name}: " + ", ".join(f"{k} {v}" for k, v in stats.items()))
    return stats


def _unique_tests(task: Any, responses: list[str]) -> list[dict[str, Any]]:
    """The distinct tests parsed from a task's responses (same input and output = one test)."""
    from atest.core.checking import distinct_tests
    from atest.core.parsing import parse_tests

    parsed = (test for text in responses for test in parse_tests(text, task.kind, template="utrl-test").tests)
    return distinct_tests(parsed, by="test")


def _read_tests(path: Path) -> dict[str, list[dict[str, Any]]]:
    from atest.core.io import read_jsonl_resumable

    return {row["task_id"]: row["tests"] for row in read_jsonl_resumable(path)}


def code_train_phase(
    ctx: LoopContext, it: int, code_model: Path | None, tests: dict[str, list[dict[str, Any]]]
) -> Path:
    from datasets import Dataset

    from atest.core.prompts import build_messages

    name = _phase(it, "code_train")
    out = ctx.run.phase_dir(name)
    if ctx.run.is_done(name):
        return ctx.run.root / ctx.run.phase_info(name)["model"]
    cfg = ctx.config
    rows = [
        {
            "prompt": build_messages("utrl-code", t, thinking=cfg.code_model.thinking),
            "task_id": t.task_id,
            # JSON text: test values mix types, which Arrow columns cannot hold
            "tests_json": json.dumps(tests.get(t.task_id, [])),
        }
        for t in ctx.tasks
    ]
    reward = UtrlCodeReward(ctx.tasks_by_id, ctx.executor, cfg.utrl, ctx.limits)
    steps = steps_for_iteration(cfg, it)[1]
    return _train(ctx, name, out, "code", CODE, code_model, Dataset.from_list(rows), [reward], it, steps)


def _train(
    ctx: LoopContext,
    name: str,
    out: Path,
    role: str,
    checks: ValidationRole,
    current: Path | None,
    dataset: Any,
    rewards: list[Any],
    it: int,
    steps: int,
) -> Path:
    cfg = ctx.config
    section = cfg.test_model if role == "test" else cfg.code_model
    ctx.on_event(f"{name}: GRPO on the {role} generator for {steps} steps")
    validator = Validator(ctx, name, out, checks, section.thinking)
    policy = load_policy(section, ctx.base_dirs[role], current, ctx.use_cpu)
    args = build_grpo_config(
        grpo_for_iteration(cfg, it),
        output_dir=out / "checkpoints",
        max_steps=steps,
        seed=cfg.seed + it,
        use_cpu=ctx.use_cpu,
        thinking=section.thinking,
        run_name=name.replace("/", "-"),
    )
    result = run_grpo_phase(
        phase=name,
        phase_dir=out,
        policy=policy,
        dataset=dataset,
        reward_funcs=rewards,
        grpo_args=args,
        metrics_sink=ctx.on_metrics,
        callbacks=[validator.callback()],
        on_trainer=lambda trainer: setattr(validator, "trainer", trainer),
        on_event=ctx.on_event,
    )
    del policy
    release_memory()
    model_dir = validator.selected(result.model_dir)
    ctx.mark_done(name, model=ctx.rel(model_dir), steps=result.steps, selected=ctx.config.validation.select)
    return model_dir
