"""`atest synth`: easy tasks from many families, verified in the sandbox, optionally split."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from atest.commands._common import check_outputs, console, emit_json, handle_errors
from atest.commands._options import ForceOpt, JsonOpt
from atest.core.results import SynthFamilies, SynthResult


def register(app: typer.Typer) -> None:
    @app.command(
        "synth",
        help="Generate easy tasks (gold program, gold tests, hand-written bugs) from many families.",
    )
    @handle_errors
    def _cmd(
        out: Annotated[Path, typer.Option("--out", help="Task file to write (every generated task).")],
        per_family: Annotated[
            int, typer.Option("--per-family", min=1, max=500, help="Instances per family (at most).")
        ] = 10,
        families: Annotated[
            str, typer.Option("--families", help="Comma-separated family names, or 'all'.")
        ] = "all",
        seed: Annotated[int, typer.Option("--seed", help="Seed of the parameters and inputs.")] = 0,
        splits: Annotated[
            Path | None,
            typer.Option(
                "--splits", help="Also write train/val/heldout-instance/heldout-family .jsonl here."
            ),
        ] = None,
        heldout_families: Annotated[
            int, typer.Option("--heldout-families", min=0, help="Whole families held out (--splits).")
        ] = 6,
        val_families: Annotated[
            int, typer.Option("--val-families", min=0, help="Whole families for validation (--splits).")
        ] = 4,
        heldout_instances: Annotated[
            float,
            typer.Option(
                "--heldout-instances", min=0.0, max=0.9, help="Fraction of each training family held out."
            ),
        ] = 0.25,
        workers: Annotated[int | None, typer.Option("--workers", min=1, help="Sandbox workers.")] = None,
        list_families: Annotated[bool, typer.Option("--list", help="List the families and exit.")] = False,
        force: ForceOpt = False,
        json_out: JsonOpt = False,
    ) -> None:
        from atest.core.sandbox import get_executor
        from atest.core.synth import FAMILIES, family_names, generate_tasks, split_tasks
        from atest.core.tasks import write_tasks

        if list_families:
            for name, fam in FAMILIES.items():
                console.print(f"{name} ({fam.kind})", highlight=False)
            if json_out:
                emit_json(SynthFamilies(families={n: f.kind for n, f in FAMILIES.items()}))
            return
        names = family_names(families)
        check_outputs(force=force, out=out)
        with get_executor(workers=workers) as executor:
            tasks, summary = generate_tasks(executor, per_family, seed=seed, families=names)
        written = None
        if splits is not None:
            parts = split_tasks(tasks, heldout_families, val_families, heldout_instances, seed=seed)
            splits.mkdir(parents=True, exist_ok=True)
            written = {}
            for name, part in parts.items():
                write_tasks(splits / f"{name}.jsonl", part)
                written[name] = splits / f"{name}.jsonl", part
        write_tasks(out, tasks)
        result = SynthResult.from_summary(summary, written, out)
        console.print(
            f"{summary.n_tasks} tasks from {summary.n_families} families ({summary.n_bugs} bugs; "
            f"{summary.n_bugs_dropped_equivalent} equivalent bugs dropped) -> {out}",
            highlight=False,
        )
        if json_out:
            emit_json(result)
