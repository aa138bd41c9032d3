"""`train --mode codegen`: GRPO on a code generator whose reward comes from generated tests.

UTRL's code phase as a run of its own (and ATGEN's code-generation runs with a trained test
generator as the reward source). The reward is 0.9 x pass rate on the generated tests that
the gold solution reproduces + 0.1 x format (`utrl.code_*_weight`); no gold test enters
training. The tests come from a gen-tests file (`codegen.tests`) or are written at the start
by the run's test model (the `iter1/gen_tests` phase, as in UTRL). With `codegen.eval_tasks`,
held-out tasks judge the code generator by its gold tests before and after training:
the share of tasks whose greedy code passes every gold test.

    OUT/codegen/tests/tests.jsonl     the valid tests per task (from --tests)
    OUT/iter1/gen_tests/              ... or the test model's responses and valid tests
    OUT/iter1/code_train/             checkpoints/, model/
    OUT/codegen/eval_before, eval_after   held-out pass rates (in run.json and metrics.jsonl)
    OUT/final/code_generator/
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from atest.core.errors import InputError
from atest.core.io import read_jsonl_resumable, write_jsonl_atomic
from atest.core.tasks import Task, read_tasks
from atest.core.training.phases.judging import correct_codes, valid_tests
from atest.core.training.phases.utrl_loop import code_train_phase, gen_tests_phase
from atest.core.training.run.context import LoopContext
from atest.core.training.run.export import export_role


def check_codegen_inputs(config: Any, tasks: list[Task]) -> None:
    """Bad tests or evaluation files fail before any model is loaded."""
    if config.codegen.tests is not None:
        from atest.core.metrics.testsfile import read_tests_file

        rows = read_tests_file(config.codegen.tests)
        known = {t.task_id for t in tasks}
        if not any(r.task_id in known for r in rows):
            raise InputError(
                f"{config.codegen.tests}: no tests for any training task",
                "generate them with `atest gen-tests` on the same task file",
            )
    if config.codegen.eval_tasks is not None:
        load_eval_tasks(config.codegen.eval_tasks, tasks)


def load_eval_tasks(path: str, training: list[Task]) -> list[Task]:
    """Held-out tasks with gold tests, none of them a training task."""
    tasks, _ = read_tasks(path)
    usable = [t for t in tasks if t.gold_tests]
    if not usable:
        raise InputError(
            f"{path}: no task has gold tests", "codegen.eval_tasks judges code by its gold tests"
        )
    shared = {t.task_id for t in usable} & {t.task_id for t in training}
    if shared:
        raise InputError(
            f"{path}: {len(shared)} evaluation task(s) are also training tasks (e.g. {sorted(shared)[0]})",
            "hold them out: atest prepare --exclude",
        )
    return usable


def run_codegen(ctx: LoopContext) -> dict[str, Path]:
    cfg = ctx.config
    eval_tasks = load_eval_tasks(cfg.codegen.eval_tasks, ctx.tasks) if cfg.codegen.eval_tasks else []
    base = Path(ctx.base_dirs["code"])
    if eval_tasks:
        _evaluate(ctx, "codegen/eval_before", base, eval_tasks)
    if cfg.codegen.tests is not None:
        tests = _tests_from_file(ctx, cfg.codegen.tests)
    else:
        tests = gen_tests_phase(ctx, 1, Path(ctx.base_dirs["test"]))
    code_model = code_train_phase(ctx, 1, None, tests)
    if eval_tasks:
        _evaluate(ctx, "codegen/eval_after", code_model, eval_tasks)
    return {"code_generator": export_role(ctx, "code_generator", code_model, ctx.base_dirs["code"])}


def _tests_from_file(ctx: LoopContext, path: str) -> dict[str, list[dict[str, Any]]]:
    """The file's tests per training task, kept only where the gold solution reproduces the output."""
    from atest.core.checking import well_formed
    from atest.core.metrics.testsfile import read_tests_file

    name = "codegen/tests"
    out = ctx.run.phase_dir(name)
    if not ctx.run.is_done(name):
        if ctx.is_main:
            by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for row in read_tests_file(path):
                by_task[row.task_id].extend(row.tests)
            parsed = [
                [t for t in by_task.get(task.task_id, []) if well_formed(t, task.kind)] for task in ctx.tasks
            ]
            kept = valid_tests(ctx.executor, ctx.tasks, parsed, ctx.limits)
            write_jsonl_atomic(
                out / "tests.jsonl",
                ({"task_id": t.task_id, "tests": k} for t, k in zip(ctx.tasks, kept, strict=True)),
            )
            stats = {
                "given": sum(len(p) for p in parsed),
                "valid": sum(len(k) for k in kept),
                "tasks_without_valid_tests": sum(1 for k in kept if not k),
            }
            ctx.on_event(f"{name}: " + ", ".join(f"{k} {v}" for k, v in stats.items()))
        ctx.mark_done(name, **(stats if ctx.is_main else {}))
    return {row["task_id"]: row["tests"] for row in read_jsonl_resumable(out / "tests.jsonl")}


def _evaluate(ctx: LoopContext, name: str, model: Path, tasks: list[Task]) -> None:
    """Greedy code per held-out task, judged by its gold tests; the pass rate goes to run.json
    and metrics.jsonl."""
    if ctx.run.is_done(name):
        return
    info: dict[str, Any] = {}
    if ctx.is_main:
        rate = greedy_pass_rate(ctx, model, tasks)
        info = {"pass_rate": rate, "tasks": len(tasks)}
        ctx.on_metrics({"phase": name, "step": 0, "eval/pass_rate": rate, "eval/tasks": len(tasks)})
        ctx.on_event(f"{name}: {rate:.1%} of {len(tasks)} held-out tasks pass every gold test")
    ctx.mark_done(name, **info)


def greedy_pass_rate(ctx: LoopContext, model: Path, tasks: list[Task]) -> float:
    from atest.core.generation import SamplingParams
    from atest.core.parsing import extract_code
    from atest.core.prompts import build_messages
    from atest.core.training.phases.sampling import open_generator, texts_of

    cfg = ctx.config
    params = SamplingParams(temperature=0.0, top_p=1.0, max_new_tokens=cfg.codegen.eval_max_new_tokens, n=1)
    prompts = [build_messages("utrl-code", t, thinking=cfg.code_model.thinking) for t in tasks]
    with open_generator(cfg.utrl.generation_backend, model, base_dir=ctx.base_dirs["code"]) as generator:
        outputs = generator.generate(prompts, params)
    codes = [[c for c in map(extract_code, texts_of(out)[:1]) if c] for out in outputs]
    flags = correct_codes(ctx.executor, list(zip(tasks, codes, strict=True)), ctx.limits)
    return sum(1 for f in flags if any(f)) / len(tasks)
