"""`atest reward`: score saved responses with one of the rewards, offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from atest.commands._common import (
    ForceOpt,
    check_outputs,
    console,
    emit_json,
    handle_errors,
    sandbox_settings,
)
from atest.commands._evaluation import (
    CpuOpt,
    JsonOpt,
    MemoryOpt,
    PaperOpt,
    TasksOpt,
    WorkersOpt,
    limits_from_options,
)
from atest.core.errors import InputError
from atest.core.io import write_jsonl_atomic


def register(app: typer.Typer) -> None:
    @app.command(
        "reward",
        help="Score a JSONL of responses (task_id, response) with a reward; each row gains reward and components.",
    )
    @handle_errors
    def _cmd(
        kind: Annotated[str, typer.Option("--kind", help="utrl-test, utrl-code or atgen.")],
        tasks: TasksOpt,
        responses: Annotated[
            Path,
            typer.Option("--responses", help="JSON lines with 'task_id' and 'response' (other fields kept)."),
        ],
        out: Annotated[Path, typer.Option("--out", help="Where to write the scored rows (JSON lines).")],
        paper: PaperOpt = None,
        solution_model: Annotated[
            str | None,
            typer.Option(
                "--solution-model",
                help="utrl-test: whose candidates are the opponents (default: the first model by name).",
            ),
        ] = None,
        tests: Annotated[
            str | None,
            typer.Option(
                "--tests",
                help="utrl-code: tests for rows without their own ('tests' or 'test_response'): "
                "a gen-tests file, or ground_truth.",
            ),
        ] = None,
        workers: WorkersOpt = None,
        cpu_seconds: CpuOpt = None,
        memory_mb: MemoryOpt = None,
        force: ForceOpt = False,
        json_out: JsonOpt = False,
    ) -> None:
        from atest.core.metrics.inputs import load_tasks
        from atest.core.rewards.offline import KINDS, output_rows, read_responses, score_rows
        from atest.core.sandbox import get_executor

        check_outputs(force=force, out=out)
        if kind not in KINDS:
            raise InputError(f"--kind {kind!r}: expected one of {', '.join(KINDS)}")
        if tests is not None and kind != "utrl-code":
            raise InputError(
                f"--tests only applies to --kind utrl-code (its rows' code is run on tests), not {kind}",
                "drop --tests",
            )
        task_list, warnings = load_tasks(tasks)
        for line in warnings:
            console.print(f"[yellow]warning:[/] {line}", highlight=False)
        rows = read_responses(responses, task_list)
        with get_executor(workers=workers, settings=sandbox_settings()) as executor:
            results = score_rows(
                executor, kind, rows, paper=paper, solution_model=solution_model, tests=tests,
                limits=limits_from_options(cpu_seconds, memory_mb),
            )  # fmt: skip
        write_jsonl_atomic(out, output_rows(rows, results))
        names = sorted({k for r in results for k in r.components})
        summary = {
            "kind": kind,
            "paper": paper,
            "n_responses": len(results),
            "mean_reward": sum(r.score for r in results) / len(results),
            "components": {k: sum(r.components.get(k, 0.0) for r in results) / len(results) for k in names},
            "out": str(out),
        }
        if json_out:
            emit_json(summary)
            return
        console.print(
            f"{kind}{' (' + paper + ' rules)' if paper else ''}: mean reward {summary['mean_reward']:.4f} "
            f"over {len(results)} responses -> {out}",
            highlight=False,
        )
