"""`atest reproduce atgen|utrl --preset NAME --out DIR`: a paper's whole study in one command.

Parse the options, load and check the preset, build the plan (atest.core.reproduce.plan: the
list of `atest` commands), run each step through the shared step runner (a rerun skips what
finished and continues a killed train / gen-tests step), then have the core read the figures
back, compute intervals and paired differences, and write results.json, report.md and the
figures. `--print-plan` shows the steps, commands and expected cost and runs nothing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.rule import Rule
from rich.table import Table

from atest.commands._common import console, emit_json, handle_errors, sandbox_settings
from atest.commands._options import JsonOpt
from atest.core.errors import InputError

if TYPE_CHECKING:
    from atest.core.reproduce.plan import Plan
    from atest.core.reproduce.results import StudyResults

STUDY_FILE = "study.json"


def register(app: typer.Typer) -> None:
    @app.command(
        "reproduce",
        help="Run a paper's study: tasks and held-out splits, base / warm-up / SFT / RL models, "
        "held-out evaluation with intervals and paired differences, report.md and results.json.",
    )
    @handle_errors
    def _cmd(
        paper: Annotated[str, typer.Argument(help="atgen or utrl.")],
        preset: Annotated[
            str, typer.Option("--preset", help="cpu-small, cpu or paper (atest/configs/reproduce/).")
        ] = "cpu-small",
        out: Annotated[
            Path | None, typer.Option("--out", help="Study folder (required unless --print-plan).")
        ] = None,
        sets: Annotated[
            list[str] | None,
            typer.Option("--set", help="Override a preset key, e.g. --set train.steps=8 (repeatable)."),
        ] = None,
        print_plan: Annotated[
            bool,
            typer.Option("--print-plan", help="List every step, command and expected cost; run nothing."),
        ] = False,
        json_out: JsonOpt = False,
    ) -> None:
        from atest.core.reproduce.plan import build_plan, check_runnable
        from atest.core.reproduce.preset import PAPERS, load_preset
        from atest.core.results import ReproduceResult

        if paper not in PAPERS:
            raise InputError(
                f"paper {paper!r}: use {' or '.join(PAPERS)}", "e.g. atest reproduce atgen --preset cpu-small"
            )
        if out is None and not print_plan:
            raise InputError("--out is required", "give the study folder, e.g. --out study-atgen")
        loaded = load_preset(preset, sets or [])
        folder = (out or Path(f"reproduce-{paper}-{preset}")).resolve()
        plan = build_plan(paper, preset, loaded, folder)
        if print_plan:
            _print_plan(plan, json_out)
            return
        check_runnable(plan)
        _claim(folder, paper, preset, sets or [])
        results = _run(plan, paper, preset, sets or [])
        _render(results)
        if json_out:
            emit_json(ReproduceResult.from_study(results, folder))


def _rerun(paper: str, preset: str, sets: list[str], out: Path) -> str:
    return " ".join(
        ["atest reproduce", paper, "--preset", preset, *(f"--set {s}" for s in sets), "--out", str(out)]
    )


def _claim(folder: Path, paper: str, preset: str, sets: list[str]) -> None:
    """A study folder holds one study: refuse to mix another paper, preset or overrides into it."""
    marker = folder / STUDY_FILE
    mine = {"paper": paper, "preset": preset, "sets": sets}
    if marker.exists():
        theirs = json.loads(marker.read_text())
        if theirs != mine:
            raise InputError(
                f"{folder} holds the study {theirs}, not {mine}",
                "rerun with the same paper, --preset and --set to resume it, or choose another --out",
            )
        return
    from atest.core.io import write_json_atomic

    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(marker, mine)


def _run(plan: Plan, paper: str, preset: str, sets: list[str]) -> StudyResults:
    from atest.commands._steps import Resume, StepRunner
    from atest.core.io import write_json_atomic
    from atest.core.reproduce.data import build_splits
    from atest.core.reproduce.report import plot_metrics, plot_validation, write_report
    from atest.core.reproduce.results import collect

    total = sum(1 for s in plan.steps if s.argv)

    def announce(index: int, label: str, command: str) -> None:
        prefix = f"{index}/{total}. " if index else ""
        console.print(Rule(f"[bold]{prefix}{label}[/]", align="left"))
        if command != "atest ":
            console.print(f"[dim]$ {command}[/]", highlight=False, soft_wrap=True)

    start = time.perf_counter()
    runner = StepRunner(
        plan.out / "results",
        what="reproduce",
        rerun=_rerun(paper, preset, sets, plan.out),
        on_step=announce,
        root_argv=sandbox_settings().root_argv(),
    )
    data = plan.preset.data_for(plan.paper)
    try:
        for step in plan.steps:
            if step.kind == "split":  # not a command: split the pool's task files (once)
                announce(0, step.label, "atest ")
                if not all(p.exists() for p in plan.raw_splits.values()):
                    build_splits(data, plan.out / "data")
                continue
            resume = Resume(step.resume_markers, step.resume_argv) if step.resume_argv else None
            runner.step(step.name, step.label, step.argv, resume)
    finally:
        runner.close()
    results = collect(plan, runner.records, time.perf_counter() - start)
    figures = [
        p
        for p in (
            plot_metrics(plan.out / "metrics.png", results),
            plot_validation(plan.out / "validation.png", results),
        )
        if p
    ]
    write_json_atomic(plan.out / "results.json", results.model_dump(mode="json"))
    write_report(plan.out / "report.md", results, figures)
    return results


def _print_plan(plan: Plan, json_out: bool) -> None:
    from atest.core.reproduce.plan import plan_result

    summary = plan_result(plan)
    steps = summary.steps
    unit = summary.cost_unit
    if json_out:
        emit_json(summary)
        return
    table = Table(title=f"atest reproduce {plan.paper} --preset {plan.preset_name}: {len(steps)} steps")
    table.add_column("#", justify="right")
    table.add_column("step")
    table.add_column(f"expected {unit}", justify="right")
    table.add_column("command", overflow="fold")
    for i, s in enumerate(steps, 1):
        table.add_row(str(i), s.label, f"{s.expected_cost:.3g}", s.command)
    console.print(table)
    console.print(
        f"expected total: {plan.total_cost():.3g} {unit} (rough: preset cost factors, not a measurement)"
    )
    for name, why in plan.skipped.items():
        console.print(f"[yellow]skipped[/] split {name}: {why}", highlight=False)


def _render(results: StudyResults) -> None:
    from atest.core.reproduce.report import findings
    from atest.core.reproduce.results import LABELS, METRICS

    split = results.headline_split
    metrics = METRICS[results.paper]
    table = Table(title=f"{results.paper} on {split} ({results.seconds / 60:.1f} min)")
    table.add_column("model")
    for m in metrics:
        table.add_column(LABELS[m], justify="right")
    for model, r in results.by_split.get(split, {}).items():
        table.add_row(
            model,
            *(
                "n/a" if m not in r.metrics or r.metrics[m].value is None else f"{r.metrics[m].value:.3f}"
                for m in metrics
            ),
        )
    console.print(table)
    for line in findings(results):
        console.print(line.replace("**", ""), highlight=False)
    console.print(f"report: {Path(results.out) / 'report.md'}", highlight=False)
