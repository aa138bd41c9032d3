"""`atest train` as a library call: check everything, then run the mode's loop in a run folder.

`plan_run` does every check that can fail on bad input (config keys and values, devices,
task file, gold solutions, buggy code, model paths, batch arithmetic) without loading a
model or writing a file, so a typo costs a second, not a model load. `execute` then opens
(or resumes) the run folder and one sandbox for the whole run, and dispatches to the loop.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from atest.core.errors import InputError
from atest.core.tasks import Task, read_tasks
from atest.core.training import ranks
from atest.core.training.config import TrainConfig, load_config, load_saved_config
from atest.core.training.grpo import check_device, gradient_accumulation, world_size
from atest.core.training.run_dir import CONFIG_NAME, RunDir

SAMPLE_TASKS = "sample.jsonl"


@dataclass
class RunPlan:
    config: TrainConfig
    out: Path
    resume: bool
    overrides: list[str]
    tasks: list[Task]
    base_dirs: dict[str, str]
    use_cpu: bool
    notes: list[str] = field(default_factory=list)  # what was dropped and why


@dataclass
class TrainSummary:
    out: Path
    mode: str
    models: dict[str, str]
    phases: list[str]
    seconds: float
    rewards: dict[
        str, dict[str, float]
    ]  # phase -> steps, reward_first, reward_last (means of first/last fifth)
    time_per_step: dict[str, float]  # seconds per step by category, averaged over every logged step
    validation: dict[str, dict[str, float]] = field(default_factory=dict)  # phase -> scores (validation.py)


def bundled_tasks() -> Path:
    return Path(str(resources.files("atest.data").joinpath(SAMPLE_TASKS)))


def plan_run(
    *,
    out: str | Path,
    mode: str | None,
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | None = None,
    resume: bool = False,
) -> RunPlan:
    overrides = list(overrides or [])
    out = Path(out)
    if resume:
        if preset is not None or config_file is not None:
            raise InputError(
                "--resume reads OUT/config.yaml; drop --preset/--config (use --set to change keys)"
            )
        config = load_saved_config(out / CONFIG_NAME, overrides) if (out / CONFIG_NAME).is_file() else None
        if config is None:
            raise InputError(f"--resume: {out} holds no run ({CONFIG_NAME} missing)")
        if mode is not None and mode != config.mode:
            raise InputError(f"--mode {mode} but the run in {out} is {config.mode}")
    else:
        if mode is None:
            raise InputError("--mode is required for a new run")
        config = load_config(mode, preset=preset, config_file=config_file, overrides=overrides)
        if config.tasks is not None:
            config.tasks = str(Path(config.tasks).resolve())
    use_cpu = check_device(config)
    tasks, notes = select_tasks(config)
    check_mode_inputs(config, tasks, use_cpu)
    base_dirs = resolve_models(config)
    return RunPlan(config, out, resume, overrides, tasks, base_dirs, use_cpu, notes)


def select_tasks(config: TrainConfig) -> tuple[list[Task], list[str]]:
    """The training tasks, with a note for each kind of task dropped; an error if none is usable."""
    path = Path(config.tasks) if config.tasks else bundled_tasks()
    tasks, problems = read_tasks(path)
    notes = [f"{len(problems)} bad record(s) skipped in {path}, first: {problems[0]}"] if problems else []
    usable = [t for t in tasks if t.gold_solutions]
    if not usable:
        raise InputError(
            f"{path}: no task has a gold solution",
            "training rewards run the gold solution; use a verified task file",
        )
    if len(usable) < len(tasks):
        notes.append(f"{len(tasks) - len(usable)} task(s) without a gold solution skipped")
    if config.is_atgen:
        with_bugs = [t for t in usable if t.buggy_code]
        if not with_bugs:
            raise InputError(
                f"{path}: no task has buggy_code", "ATGEN needs bugs: run `atest prepare --mutants K`"
            )
        if len(with_bugs) < len(usable):
            notes.append(f"{len(usable) - len(with_bugs)} task(s) without buggy_code skipped")
        usable = with_bugs
        if config.mode != "atgen-static":
            with_tests = [t for t in usable if t.gold_tests]
            if not with_tests:
                raise InputError(
                    f"{path}: no task has gold tests",
                    "the adversary checks that its code fails the gold tests",
                )
            if len(with_tests) < len(usable):
                notes.append(f"{len(usable) - len(with_tests)} task(s) without gold tests skipped")
            usable = with_tests
    if config.max_tasks is not None:
        usable = usable[: config.max_tasks]
    return usable, notes


def check_mode_inputs(config: TrainConfig, tasks: list[Task], use_cpu: bool = False) -> None:
    """The checks of one mode's own inputs (batch arithmetic for the GRPO modes, validation)."""
    from atest.core.training.trackers import check_config_trackers
    from atest.core.training.validation import check_validation

    check_config_trackers(config)
    check_validation(config, tasks)
    if config.mode == "sft":
        from atest.core.training.sft_loop import check_sft_tasks

        check_sft_tasks(tasks)
        if use_cpu and config.sft.bf16:
            raise InputError("config asks for bf16 but training runs on CPU (no GPU)", "--set sft.bf16=false")
        return
    if config.mode == "codegen":
        from atest.core.training.codegen_loop import check_codegen_inputs

        check_codegen_inputs(config, tasks)
    check_batch(config, tasks)


def check_batch(config: TrainConfig, tasks: list[Task]) -> None:
    gradient_accumulation(config.grpo, world_size())
    rows = (
        len(tasks)
        if not config.is_atgen
        else sum(len(t.buggy_code[: config.atgen.buggy_per_task]) for t in tasks)
    )
    if rows < config.grpo.prompts_per_step:
        raise InputError(
            f"{rows} training prompt(s) but grpo.prompts_per_step is {config.grpo.prompts_per_step}",
            "use more tasks or lower grpo.prompts_per_step",
        )


def resolve_models(config: TrainConfig) -> dict[str, str]:
    """Local folders for every model the run loads (an error now, not after an hour of training)."""
    dirs: dict[str, str] = {}
    if not (config.mode == "codegen" and config.codegen.tests is not None):  # else no test model runs
        dirs["test"] = _resolve(config.test_model.path, "test_model.path")
    if config.code_model is not None and config.mode in ("utrl", "codegen"):
        dirs["code"] = _resolve(config.code_model.path, "code_model.path")
    if config.is_atgen and config.mode != "atgen-static":
        adv = config.atgen.adversary
        if adv.backend == "openai":
            if adv.model is None:
                raise InputError(
                    "atgen.adversary.model is required with the openai backend (e.g. gpt-4o-mini)"
                )
            if adv.base_url is None and not os.environ.get(adv.api_key_env):
                raise InputError(
                    f"the adversary uses the OpenAI API but ${adv.api_key_env} is not set",
                    "export it, or point atgen.adversary.base_url at your own server",
                )
            dirs["adversary"] = adv.model
        else:
            dirs["adversary"] = _resolve(adv.model, "atgen.adversary.model") if adv.model else dirs["test"]
    return dirs


def _resolve(name: str, key: str) -> str:
    """A written path must exist; names and hub ids go through `resolve_model`."""
    from atest.core.models import resolve_model

    looks_local = name.startswith(("/", "./", "../", "~")) or (os.sep in name and Path(name).parent.exists())
    if looks_local and not Path(name).expanduser().exists():
        raise InputError(f"{key}: model path {name} does not exist")
    return resolve_model(str(Path(name).expanduser()) if looks_local else name)


def execute(
    plan: RunPlan,
    *,
    on_metrics: Callable[[dict[str, Any]], None] = lambda record: None,
    on_event: Callable[[str], None] = lambda text: None,
) -> TrainSummary:
    from atest.core.sandbox import get_executor
    from atest.core.training.atgen_loop import run_atgen
    from atest.core.training.codegen_loop import run_codegen
    from atest.core.training.context import LoopContext
    from atest.core.training.sft_loop import run_sft
    from atest.core.training.utrl_loop import run_utrl

    start = time.perf_counter()
    if plan.config.threads is not None:
        import torch

        torch.set_num_threads(plan.config.threads)
    ranks.init(plan.use_cpu)
    run = open_run(plan)
    for note in plan.notes:
        on_event(note)
    if plan.resume:
        done = run.done_phases()
        on_event(f"resuming {plan.out}: {len(done)} phase(s) done" + (f", last {done[-1]}" if done else ""))
    box = plan.config.sandbox
    # The sandbox's workers are a per-node budget: the node's processes split it.
    workers = ranks.node_share(box.workers or os.cpu_count() or 1)
    with contextlib.ExitStack() as stack:
        writer = stack.enter_context(run.metrics_writer()) if ranks.is_main() else None
        executor = stack.enter_context(
            get_executor(box.isolation, workers, max_batch=box.batch, executor=box.executor)
        )

        def record(row: dict[str, Any]) -> None:
            if writer is not None:  # steps are logged on the main process only
                writer.write(row)
            on_metrics(row)

        ctx = LoopContext(run, plan.tasks, executor, plan.use_cpu, plan.base_dirs, record, on_event)
        loops = {"utrl": run_utrl, "codegen": run_codegen, "sft": run_sft}
        models = loops.get(plan.config.mode, run_atgen)(ctx)
    return summarize(run, {k: str(v) for k, v in models.items()}, time.perf_counter() - start)


def open_run(plan: RunPlan) -> RunDir:
    """The run folder, created or resumed by the main process; the others get its config and ledger."""

    def create_or_resume() -> tuple[TrainConfig, dict[str, Any]]:
        run = RunDir.resume(plan.out, plan.overrides) if plan.resume else RunDir.create(plan.out, plan.config)
        return run.config, run.ledger

    config, ledger = ranks.on_main(create_or_resume)
    return RunDir(plan.out, config, ledger)


def summarize(run: RunDir, models: dict[str, str], seconds: float) -> TrainSummary:
    from atest.core.training.validation import summarize_validation

    every = run.read_metrics()
    rows = [r for r in every if "reward" in r]
    by_phase: dict[str, list[float]] = {}
    for r in rows:
        by_phase.setdefault(r["phase"], []).append(float(r["reward"]))
    rewards = {}
    for phase, values in by_phase.items():
        fifth = max(1, len(values) // 5)
        rewards[phase] = {
            "steps": len(values),
            "reward_first": statistics.fmean(values[:fifth]),
            "reward_last": statistics.fmean(values[-fifth:]),
        }
    timing_keys = sorted({k for r in rows for k in r if k.startswith("time/")})
    time_per_step = {
        k.removeprefix("time/"): statistics.fmean(float(r[k]) for r in rows if k in r) for k in timing_keys
    }
    return TrainSummary(
        out=run.root,
        mode=run.config.mode,
        models=models,
        phases=run.done_phases(),
        seconds=seconds,
        rewards=rewards,
        time_per_step=time_per_step,
        validation=summarize_validation(every),
    )
