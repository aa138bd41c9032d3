"""`atest demo`: the whole story on the bundled sample and the embedded small model, on CPU.

Parse the options, run the steps (atest/commands/_demo_steps.py, each one `atest` command),
have the core write the figures and the report, render the table.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.rule import Rule
from rich.table import Table

from atest.commands._common import console, emit_json, handle_errors, sandbox_settings
from atest.commands._options import JsonOpt
from atest.core.results import DemoSummary

if TYPE_CHECKING:
    from atest.core.demo import DemoResult


def register(app: typer.Typer) -> None:
    @app.command(
        "demo",
        help="Run the main job in miniature: prepare, pools, tests before/after training, evaluation, report.",
    )
    @handle_errors
    def _cmd(
        out: Annotated[Path, typer.Option("--out", help="Folder for every artifact and the report.")] = Path(
            "demo-out"
        ),
        n_tasks: Annotated[int, typer.Option("--tasks", min=1, help="Bundled tasks to evaluate on.")] = 4,
        mutants: Annotated[
            int, typer.Option("--mutants", min=1, help="Mutants per task as buggy code (one test each).")
        ] = 3,
        pool_size: Annotated[
            int,
            typer.Option("--pool-size", min=1, help="Candidates per task in the mutant pool (largest N)."),
        ] = 8,
        solutions: Annotated[int, typer.Option("--solutions", min=1, help="Model solutions per task.")] = 2,
        model: Annotated[str, typer.Option("--model", help="Test and code model.")] = "smollm2-135m",
        mode: Annotated[str, typer.Option("--mode", help="Training mode.")] = "atgen-static",
        warmup_steps: Annotated[int, typer.Option("--warmup-steps", min=1, help="Format warm-up steps.")] = 8,
        steps: Annotated[int, typer.Option("--steps", min=1, help="GRPO steps of the training run.")] = 3,
        max_new_tokens: Annotated[
            int, typer.Option("--max-new-tokens", min=16, help="Tokens per generated test response.")
        ] = 80,
        solution_tokens: Annotated[
            int, typer.Option("--solution-tokens", min=16, help="Tokens per sampled solution.")
        ] = 192,
        workers: Annotated[int | None, typer.Option("--workers", min=1, help="Sandbox workers.")] = None,
        json_out: JsonOpt = False,
    ) -> None:
        from atest.commands._demo_steps import DemoRunner
        from atest.core.demo import DemoConfig
        from atest.core.demo_report import plot_bon, plot_learning, write_report

        config = DemoConfig(
            out=out, n_tasks=n_tasks, mutants=mutants, pool_size=pool_size, solutions=solutions, model=model,
            mode=mode, warmup_steps=warmup_steps, train_steps=steps, max_new_tokens=max_new_tokens,
            solution_tokens=solution_tokens, workers=workers,
        )  # fmt: skip
        config.validate()

        def announce(index: int, label: str, command: str) -> None:
            console.print(Rule(f"[bold]{index}. {label}[/]", align="left"))
            console.print(f"[dim]$ {command}[/]", highlight=False, soft_wrap=True)

        result = DemoRunner(config, announce, sandbox_settings().root_argv()).run()
        result.plots = [
            p for p in (plot_bon(out / "bon.png", result), plot_learning(out / "learning.png", result)) if p
        ]
        result.report = write_report(out / "report.md", result)
        _render(result)
        if json_out:
            emit_json(DemoSummary.from_result(result))


def _render(result: DemoResult) -> None:
    table = Table(title=f"atest demo ({result.seconds / 60:.1f} min): a smoke test, not a result")
    pools = sorted({p for r in result.rows for p in r.bon})
    table.add_column("tests")
    table.add_column("tests/task", justify="right")
    for pool in pools:
        n = max(result.pools[pool].chance)
        table.add_column(f"best-of-{n}\n{pool}", justify="right")
    table.add_column("fidelity", justify="right")
    table.add_column("mutation\nscore", justify="right")
    for row in result.rows:
        table.add_row(
            row.label,
            f"{row.tests_per_task:.1f}",
            *(f"{row.bon[p]:.3f}" if p in row.bon else "n/a" for p in pools),
            "ref." if row.fidelity is None else f"{row.fidelity:.3f}",
            "n/a" if row.mutation_score is None else f"{row.mutation_score:.3f}",
        )
    console.print(table)
    console.print(f"report: {result.report}", highlight=False)
    for plot in result.plots:
        console.print(f"plot:   {plot}", highlight=False)
