"""`atest demo`: the whole story on the bundled sample and the embedded small model, on CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.rule import Rule
from rich.table import Table

from atest.commands._common import console, emit_json, handle_errors


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
        mutants: Annotated[int, typer.Option("--mutants", min=1, help="Mutants per task.")] = 3,
        solutions: Annotated[int, typer.Option("--solutions", min=1, help="Model solutions per task.")] = 2,
        model: Annotated[str, typer.Option("--model", help="Test and code model.")] = "smollm2-135m",
        mode: Annotated[str, typer.Option("--mode", help="Training mode.")] = "atgen-static",
        warmup_steps: Annotated[
            int, typer.Option("--warmup-steps", min=1, help="Format warm-up steps.")
        ] = 12,
        steps: Annotated[int, typer.Option("--steps", min=1, help="GRPO steps of the training run.")] = 3,
        max_new_tokens: Annotated[
            int, typer.Option("--max-new-tokens", min=16, help="Tokens per generated test response.")
        ] = 80,
        solution_tokens: Annotated[
            int, typer.Option("--solution-tokens", min=16, help="Tokens per sampled solution.")
        ] = 192,
        workers: Annotated[int | None, typer.Option("--workers", min=1, help="Sandbox workers.")] = None,
        json_out: Annotated[bool, typer.Option("--json", help="Print one JSON summary on stdout.")] = False,
    ) -> None:
        from atest.core.demo import DemoConfig, DemoRunner

        config = DemoConfig(
            out=out, n_tasks=n_tasks, mutants=mutants, solutions=solutions, model=model, mode=mode,
            warmup_steps=warmup_steps, train_steps=steps, max_new_tokens=max_new_tokens,
            solution_tokens=solution_tokens, workers=workers,
        )  # fmt: skip
        config.validate()

        def announce(index: int, label: str, command: str) -> None:
            console.print(Rule(f"[bold]{index}. {label}[/]", align="left"))
            console.print(f"[dim]$ {command}[/]", highlight=False, soft_wrap=True)

        result = DemoRunner(config, announce).run()
        table = Table(title=f"atest demo ({result.seconds / 60:.1f} min): a smoke test, not a result")
        pools = sorted({m for r in result.rows for m in r.bon})
        table.add_column("tests")
        table.add_column("tests/task", justify="right")
        for pool in pools:
            table.add_column(f"best-of-N\n{pool}", justify="right")
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
        console.print(f"report: {result.report}\nplot:   {result.plot}", highlight=False)
        if json_out:
            emit_json(
                {
                    "out": str(out),
                    "report": str(result.report),
                    "plot": str(result.plot),
                    "seconds": result.seconds,
                    "rows": [
                        {
                            "tests": r.label,
                            "tests_per_task": r.tests_per_task,
                            "bon": r.bon,
                            "fidelity": r.fidelity,
                            "mutation_score": r.mutation_score,
                        }
                        for r in result.rows
                    ],
                    "steps": [
                        {"name": s.name, "seconds": s.seconds, "resumed": s.resumed} for s in result.steps
                    ],
                }
            )
