"""`atest train` as a library call: check everything, then run the mode's loop in a run folder.

`resolve_config` decides, once, whether a call starts a new run or resumes one, and reads the
config it runs with (what `train --print-config` prints). `plan_run` then does every check
that can fail on bad input (config keys and values, devices, task file, gold solutions, buggy
code, model paths, batch arithmetic) without loading a model or writing a file, so a typo
costs a second, not a model load. `execute` then opens (or resumes) the run folder and one
sandbox for the whole run, and hands it to the mode. Everything that differs between modes
is asked of the mode object (`modes/`); this module names none.
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
from atest.core.sandbox.settings import SandboxSettings
from atest.core.tasks import Task, read_tasks
from atest.core.training import fastpath
from atest.core.training.config import TrainConfig, load_config, load_saved_config, source_file
from atest.core.training.modes import Mode, get_mode
from atest.core.training.modes.base import keep_tasks
from atest.core.training.phases.validation import check_validation, summarize_validation
from atest.core.training.run import ranks
from atest.core.training.run.run_dir import CONFIG_NAME, RunDir
from atest.core.training.trackers import check_config_trackers
from atest.core.training.trainer.grpo import check_device, gradient_accumulation, world_size

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
    validation: dict[str, dict[str, float]] = field(
        default_factory=dict
    )  # phase -> scores (phases/validation.py)
    fast: dict[str, Any] = field(default_factory=dict)  # the fast CPU path used, with reasons (fastpath.py)


def bundled_tasks() -> Path:
    return Path(str(resources.files("atest.data").joinpath(SAMPLE_TASKS)))


def resolve_config(
    mode: str | None,
    *,
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | None = None,
    resume_dir: Path | None = None,
) -> TrainConfig:
    """The config a `train` call runs with: a new run's (`resume_dir` None), or the one saved in
    `resume_dir`; read and checked against its mode without loading a model or writing anything."""
    if resume_dir is None:
        if mode is None:
            raise InputError("--mode is required for a new run")
        get_mode(mode)  # an unknown name before any file is read
        config = load_config(mode, preset=preset, config_file=config_file, overrides=overrides)
        if config.tasks is not None:
            config.tasks = str(Path(config.tasks).resolve())
        source = str(source_file(mode, preset, config_file))
    else:
        if preset is not None or config_file is not None:
            raise InputError(
                "--resume reads OUT/config.yaml; drop --preset/--config (use --set to change keys)"
            )
        path = resume_dir / CONFIG_NAME
        if not path.is_file():
            raise InputError(f"--resume: {resume_dir} holds no run ({CONFIG_NAME} missing)")
        config = load_saved_config(path, overrides)
        if mode is not None and mode != config.mode:
            raise InputError(f"--mode {mode} but the run in {resume_dir} is {config.mode}")
        source = str(path)
    get_mode(config.mode).check_config(config, source)
    return config


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
    config = resolve_config(
        mode, preset=preset, config_file=config_file, overrides=overrides, resume_dir=out if resume else None
    )
    use_cpu = check_device(config, get_mode(config.mode).generation_backends(config))
    tasks, notes = select_tasks(config)
    check_mode_inputs(config, tasks, use_cpu)
    base_dirs = resolve_models(config)
    return RunPlan(config, out, resume, overrides, tasks, base_dirs, use_cpu, notes)


def select_tasks(config: TrainConfig) -> tuple[list[Task], list[str]]:
    """The training tasks, with a note for each kind of task dropped; an error if none is usable.

    Every mode needs a gold solution (the rewards run it); the mode drops what else it lacks."""
    path = Path(config.tasks) if config.tasks else bundled_tasks()
    tasks, problems = read_tasks(path)
    notes = [f"{len(problems)} bad record(s) skipped in {path}, first: {problems[0]}"] if problems else []
    hint = "training rewards run the gold solution; use a verified task file"
    usable = keep_tasks(tasks, lambda t: bool(t.gold_solutions), "a gold solution", path, hint, notes)
    usable, dropped = get_mode(config.mode).select_tasks(usable, path)
    notes += dropped
    if config.max_tasks is not None:
        usable = usable[: config.max_tasks]
    return usable, notes


def check_mode_inputs(config: TrainConfig, tasks: list[Task], use_cpu: bool = False) -> None:
    """The checks of one mode's own inputs (validation, its files, batch arithmetic for GRPO)."""
    mode = get_mode(config.mode)
    check_config_trackers(config, grpo=bool(mode.phase_steps(config)))
    check_validation(config, tasks, mode.phase_steps(config), mode.validation_roles(config))
    mode.check_inputs(config, tasks, use_cpu)
    check_batch(config, tasks, mode)


def check_batch(config: TrainConfig, tasks: list[Task], mode: Mode) -> None:
    """A GRPO step draws `prompts_per_step` rows in whole groups; a mode without GRPO has no batch."""
    rows = mode.prompt_rows(config, tasks)
    if rows is None:
        return
    gradient_accumulation(config.grpo, world_size())
    if rows < config.grpo.prompts_per_step:
        raise InputError(
            f"{rows} training prompt(s) but grpo.prompts_per_step is {config.grpo.prompts_per_step}",
            "use more tasks or lower grpo.prompts_per_step",
        )


def resolve_models(config: TrainConfig) -> dict[str, str]:
    """Local folders for every model the run loads (an error now, not after an hour of training)."""
    return get_mode(config.mode).resolve_models(config, _resolve)


def _resolve(name: str, key: str) -> str:
    """A written path must exist; names and hub ids go through `resolve_model`."""
    from atest.core.models import resolve_model

    looks_local = name.startswith(("/", "./", "../", "~")) or (os.sep in name and Path(name).parent.exists())
    if looks_local and not Path(name).expanduser().exists():
        raise InputError(f"{key}: model path {name} does not exist")
    return resolve_model(str(Path(name).expanduser()) if looks_local else name)


def check_launch(settings: SandboxSettings) -> None:
    """Refuse what a launch of several processes would multiply: `--executor ray` without an
    address makes every process start a Ray runtime of its own on the same machine."""
    if ranks.world() > 1 and settings.executor == "ray" and not settings.ray_address:
        raise InputError(
            f"--executor ray without an address under a launch of {ranks.world()} processes would "
            f"start {ranks.world()} Ray runtimes, one per process",
            "start one first (`ray start --head`) and pass --ray-address auto (every process joins it)",
        )


def execute(
    plan: RunPlan,
    *,
    sandbox: SandboxSettings | None = None,
    on_metrics: Callable[[dict[str, Any]], None] = lambda record: None,
    on_event: Callable[[str], None] = lambda text: None,
) -> TrainSummary:
    from atest.core.sandbox import get_executor
    from atest.core.sandbox.settings import resolve
    from atest.core.training.run.context import LoopContext

    # `sandbox`: what the CLI resolved, the config its lowest layer; a library caller without it
    # gets the config's keys over the defaults.
    settings = sandbox or resolve(config=plan.config.sandbox.settings_layer())
    with ranks.same_on_every_rank():
        check_launch(settings)
    start = time.perf_counter()
    if plan.config.threads is not None:
        import torch

        torch.set_num_threads(plan.config.threads)
    ranks.init(plan.use_cpu)
    fast = fastpath.start(
        plan.config,
        use_cpu=plan.use_cpu,
        model_dir=plan.base_dirs.get("test"),
        processes=ranks.local_world(),
        grpo_steps=get_mode(plan.config.mode).phase_steps(plan.config),
    )
    run = open_run(plan)
    on_event(fast.describe())
    for note in plan.notes:
        on_event(note)
    if plan.resume:
        done = run.done_phases()
        on_event(f"resuming {plan.out}: {len(done)} phase(s) done" + (f", last {done[-1]}" if done else ""))
    box = plan.config.sandbox
    # The sandbox's workers are a per-node budget: the node's processes split it.
    workers = ranks.node_share(box.workers or os.cpu_count() or 1)
    with contextlib.ExitStack() as stack:
        stack.callback(fastpath.stop)
        writer = stack.enter_context(run.metrics_writer()) if ranks.is_main() else None
        executor = stack.enter_context(get_executor(workers=workers, settings=settings))

        def record(row: dict[str, Any]) -> None:
            if writer is not None:  # steps are logged on the main process only
                writer.write(row)
            on_metrics(row)

        ctx = LoopContext(run, plan.tasks, executor, plan.use_cpu, plan.base_dirs, record, on_event)
        models = get_mode(plan.config.mode).run(ctx)
    summary = summarize(run, {k: str(v) for k, v in models.items()}, time.perf_counter() - start)
    summary.fast = fast.as_dict()
    ranks.finish()
    return summary


def open_run(plan: RunPlan) -> RunDir:
    """The run folder, created or resumed by the main process; the others get its config and ledger."""

    def create_or_resume() -> tuple[TrainConfig, dict[str, Any]]:
        run = RunDir.resume(plan.out, plan.overrides) if plan.resume else RunDir.create(plan.out, plan.config)
        return run.config, run.ledger

    config, ledger = ranks.on_main(create_or_resume)
    return RunDir(plan.out, config, ledger)


def summarize(run: RunDir, models: dict[str, str], seconds: float) -> TrainSummary:
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
