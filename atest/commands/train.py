"""`atest train`: UTRL and ATGEN adversarial training on TRL GRPO."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from atest.commands._common import console, emit_json, handle_errors, sandbox_settings
from atest.commands._options import JsonOpt
from atest.core.errors import AtestError, InputError
from atest.core.training.modes import MODES

MODE_HELP = (
    f"{' | '.join(MODES)} (required unless --resume); codegen trains a code generator against "
    "generated tests, sft is the supervised baseline."
)


ADVERSARY_MODES = ("atgen-unconditional", "atgen-adaptive")  # the modes that replace buggy code


def _check_flags(
    mode: str | None, overrides: list[str], adversary_retries: int | None, start_adver_steps: int | None
) -> None:
    """Flags that contradict each other are refused, not silently resolved one way."""
    for item in overrides:
        key, _, value = item.partition("=")
        if key.strip() == "mode" and mode is not None and value.strip() != mode:
            raise InputError(
                f"--mode {mode} and --set {item} name two modes", "give the mode once, with --mode"
            )
    given = [
        flag
        for flag, value in (
            ("--adversary-retries", adversary_retries),
            ("--start-adver-steps", start_adver_steps),
        )
        if value is not None
    ]
    if given and mode is not None and mode not in ADVERSARY_MODES:
        raise InputError(
            f"{given[0]} only applies to --mode {' or '.join(ADVERSARY_MODES)}, not {mode}",
            f"drop {given[0]}",
        )


def register(app: typer.Typer) -> None:
    @app.command("train", help="Train a test generator by adversarial RL (UTRL or ATGEN) on TRL GRPO.")
    @handle_errors
    def _cmd(
        out: Annotated[
            Path | None,
            typer.Option("--out", help="Run folder: config, checkpoints, artifacts, final models."),
        ] = None,
        mode: Annotated[str | None, typer.Option("--mode", help=MODE_HELP)] = None,
        preset: Annotated[
            str | None, typer.Option("--preset", help="Preset over the mode's config, e.g. cpu-smoke.")
        ] = None,
        config: Annotated[
            Path | None, typer.Option("--config", help="Your own YAML config (may name a `base:` file).")
        ] = None,
        tasks: Annotated[
            Path | None, typer.Option("--tasks", help="Task file (default: the bundled sample).")
        ] = None,
        tests: Annotated[
            Path | None,
            typer.Option("--tests", help="codegen: the reward's tests, a gen-tests output file."),
        ] = None,
        test_model: Annotated[
            str | None,
            typer.Option("--test-model", help="codegen: a test generator that writes the reward's tests."),
        ] = None,
        set_: Annotated[
            list[str] | None,
            typer.Option(
                "--set", help="Override a config key, e.g. --set grpo.learning_rate=1e-6 (repeatable)."
            ),
        ] = None,
        adversary_retries: Annotated[
            int | None,
            typer.Option("--adversary-retries", min=1, help="ATGEN: adversarial samples per slot (30)."),
        ] = None,
        start_adver_steps: Annotated[
            int | None,
            typer.Option("--start-adver-steps", min=0, help="ATGEN: steps before replacement (50)."),
        ] = None,
        resume: Annotated[
            bool,
            typer.Option("--resume", help="Continue the run in --out from its last phase or checkpoint."),
        ] = False,
        json_out: JsonOpt = False,
        print_config: Annotated[
            bool,
            typer.Option(
                "--print-config",
                help="Print the resolved config as one JSON object and exit (no model loaded, --out untouched).",
            ),
        ] = False,
    ) -> None:
        from atest.core.results import TrainResult
        from atest.core.training.run import ranks
        from atest.core.training.runner import execute, plan_run

        if not ranks.is_main():
            _quiet_worker()

        overrides = list(set_ or [])
        _check_flags(mode, overrides, adversary_retries, start_adver_steps)
        if tasks is not None:
            overrides.append(f"tasks={tasks.resolve()}")
        if tests is not None and test_model is not None:
            raise InputError("--tests and --test-model both name the reward's tests", "give one of them")
        if tests is not None:
            overrides.append(f"codegen.tests={tests.resolve()}")
        if test_model is not None:
            overrides += [f"test_model.path={test_model}", "codegen.tests=null"]
        if adversary_retries is not None:
            overrides.append(f"atgen.adversary.retries={adversary_retries}")
        if start_adver_steps is not None:
            overrides.append(f"atgen.start_adver_steps={start_adver_steps}")
        if out is None and (resume or not print_config):
            raise InputError("--out is required", "name the run folder, e.g. --out runs/utrl")
        if print_config:
            from atest.core.training.runner import resolve_config

            resolved = resolve_config(
                mode,
                preset=preset,
                config_file=config,
                overrides=overrides,
                resume_dir=out if resume else None,
            )
            if ranks.is_main():
                emit_json(resolved.model_dump(mode="json"))
            return
        with ranks.same_on_every_rank():
            plan = plan_run(
                out=out, mode=mode, preset=preset, config_file=config, overrides=overrides, resume=resume
            )
        cfg = plan.config
        # Only now: importing transformers costs a second, which a refused run should not pay.
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # our one line per step replaces the save/load progress bars
        console.print(
            f"[bold]{cfg.mode}[/] on {len(plan.tasks)} task(s), "
            f"{'CPU' if plan.use_cpu else 'GPU'}, test model {cfg.test_model.path}"
            + (f", code model {cfg.code_model.path}" if "code" in plan.base_dirs and cfg.code_model else "")
            + f" -> {out}",
            highlight=False,
        )
        with _named_by_process():
            summary = execute(
                plan,
                sandbox=sandbox_settings(plan.config.sandbox.settings_layer()),
                on_metrics=_print_step,
                on_event=lambda text: console.print(f"[cyan]{text}[/]"),
            )
        _print_summary(summary)
        if json_out and ranks.is_main():
            emit_json(TrainResult.from_summary(summary))


def _quiet_worker() -> None:
    """Progress, tables and library logs come from the main process only."""
    import warnings

    from transformers.utils import logging as hf_logging

    console.quiet = True
    hf_logging.set_verbosity_error()
    warnings.filterwarnings("ignore")


@contextmanager
def _named_by_process() -> Iterator[None]:
    """Let a non-main process print an error only it hit (the main one may never see it), naming
    the process; an error every process hit (`ShownByMain`) stays with the main one's message."""
    from atest.core.training.run import ranks

    try:
        yield
    except AtestError as exc:
        if not ranks.is_main() and not isinstance(exc, ranks.ShownByMain):
            console.quiet = False
            exc.message = f"process {ranks.rank()}: {exc.message}"
        raise


_COMPONENT_PREFIXES = ("utrl_test/", "utrl_code/", "atgen/")


def _print_step(row: dict[str, Any]) -> None:
    """One line per logged step: reward and its parts, group statistics, KL, length, time split."""
    parts = [f"[bold]{row['phase']}[/] step {row['step']}/{row.get('max_steps', '?')}"]
    if "reward" not in row:  # a supervised step or an evaluation: print what it holds
        figures = {k: v for k, v in row.items() if k not in ("phase", "step", "max_steps")}
        parts += [f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in figures.items()]
        console.print(" ".join(parts), highlight=False)
        return
    parts.append(f"reward {row.get('reward', float('nan')):.3f}")
    comps = [
        f"{k.split('/', 1)[1]} {v:.2f}"
        for k, v in sorted(row.items())
        if k.startswith(_COMPONENT_PREFIXES) and isinstance(v, (int, float))
    ]
    if comps:
        parts.append("(" + ", ".join(comps) + ")")
    parts.append(f"zero-std {row.get('frac_reward_zero_std', 0.0):.2f}")
    parts.append(f"kl {row.get('kl', 0.0):.4f}")
    parts.append(f"len {row.get('completions/mean_length', 0.0):.0f}")
    if "adversary/attempted" in row:
        parts.append(
            f"| bugs caught {row['adversary/caught']:.0f}/{row['adversary/slots_seen']:.0f}, "
            f"replaced {row['adversary/accepted']:.0f}/{row['adversary/attempted']:.0f} "
            f"(mean retries {row['adversary/mean_retries']:.1f})"
        )
    timing = [
        f"{name} {row[f'time/{name}']:.1f}s"
        for name in ("generation", "reward", "optimisation", "adversary")
        if f"time/{name}" in row
    ]
    if timing:
        parts.append("| " + " ".join(timing) + f" of {row.get('time/step', 0.0):.1f}s")
    console.print(" ".join(parts), highlight=False)


def _print_summary(summary: Any) -> None:
    table = Table(title=f"atest train ({summary.mode}) done in {summary.seconds:.0f}s", title_justify="left")
    table.add_column("phase")
    table.add_column("steps", justify="right")
    table.add_column("reward first", justify="right")
    table.add_column("reward last", justify="right")
    for phase, stats in summary.rewards.items():
        table.add_row(
            phase, str(stats["steps"]), f"{stats['reward_first']:.3f}", f"{stats['reward_last']:.3f}"
        )
    console.print(table)
    timing = dict(summary.time_per_step)
    if timing:
        fraction = timing.pop("reward_fraction", None)
        split = ", ".join(f"{k} {v:.2f}s" for k, v in timing.items())
        share = f" (reward {fraction:.0%} of a step)" if fraction is not None else ""
        console.print(f"time per step: {split}{share}", highlight=False)
    for phase, val in summary.validation.items():
        console.print(
            f"validation {phase}: score {val['score_first']:.3f} -> {val['score_last']:.3f}, "
            f"best {val['score_best']:.3f} at step {val['best_step']:.0f} ({val['validations']:.0f} runs)",
            highlight=False,
        )
    if summary.fast:
        from atest.core.training.fastpath import FastPath

        console.print(FastPath(**summary.fast).describe(), highlight=False)
    for role, path in summary.models.items():
        console.print(f"{role}: [bold]{path}[/]")
