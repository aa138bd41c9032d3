"""`atest example-tests`: the statements' own examples as a tests file (the no-model baseline)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from atest.commands import _options as opt
from atest.commands._common import check_outputs, console, emit_json, handle_errors
from atest.commands._evaluation import print_warnings
from atest.core.results import ExampleTestsResult


def register(app: typer.Typer) -> None:
    @app.command(
        "example-tests",
        help="Write the examples of each problem statement as a tests file (baseline for bon/fidelity).",
    )
    @handle_errors
    def _cmd(
        tasks: opt.TasksOpt,
        out: Annotated[Path, typer.Option("--out", help="Tests file to write (JSON lines).")],
        force: opt.ForceOpt = False,
        json_out: opt.JsonOpt = False,
    ) -> None:
        from atest.core.examples import EXAMPLES_SOURCE, example_tests
        from atest.core.io import write_jsonl_atomic
        from atest.core.metrics.inputs import load_tasks

        check_outputs(force=force, out=out)
        loaded, warnings = load_tasks(tasks)
        print_warnings(warnings)
        rows = [{"task_id": t.task_id, "tests": example_tests(t), "source": EXAMPLES_SOURCE} for t in loaded]
        write_jsonl_atomic(out, rows)
        summary = ExampleTestsResult(
            n_tasks=len(rows),
            n_tests=sum(len(r["tests"]) for r in rows),
            n_tasks_without_examples=sum(not r["tests"] for r in rows),
            out=str(out),
        )
        console.print(
            f"{summary.n_tests} example tests from {summary.n_tasks} statements "
            f"({summary.n_tasks_without_examples} without readable examples) -> {out}",
            highlight=False,
        )
        if json_out:
            emit_json(summary)
