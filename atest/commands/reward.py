"""`atest reward`: score saved responses with one of the rewards, offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from atest.commands import _options as opt
from atest.commands._common import check_outputs, console, emit_json, handle_errors, sandbox_settings
from atest.commands._evaluation import limits_from_options, print_warnings
from atest.core.errors import InputError
from atest.core.io import write_jsonl_atomic
from atest.core.results import RewardResult


def register(app: typer.Typer) -> None:
    @app.command(
        "reward",
        help="Score a JSONL of responses (task_id, response) with a reward; each row gains reward and components.",
    )
    @handle_errors
    def _cmd(
        kind: Annotated[str, typer.Option("--kind", help="utrl-test, utrl-code or atgen.")],
        tasks: opt.TasksOpt,
        responses: Annotated[
            Path,
            typer.Option("--responses", help="JSON lines with 'task_id' and 'response' (other fields kept)."),
        ],
        out: Annotated[Path, typer.Option("--out", help="Where to write the scored rows (JSON lines).")],
        paper: opt.PaperOpt = None,
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
        workers: opt.WorkersOpt = None,
        cpu_seconds: opt.CpuOpt = None,
        memory_mb: opt.MemoryOpt = None,
        force: opt.ForceOpt = False,
        json_out: opt.JsonOpt = False,
    ) -> None:
        from atest.core.metrics.inputs import load_tasks
        from atest.core.rewards.offline import KINDS, output_rows, read_responses, score_rows
        from atest.core.rules import rules_named
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
        print_warnings(warnings)
        rows = read_responses(responses, task_list)
        with get_executor(workers=workers, settings=sandbox_settings()) as executor:
            results = score_rows(
                executor, kind, rows, paper=paper, solution_model=solution_model, tests=tests,
                limits=limits_from_options(cpu_seconds, memory_mb, rules_named(paper).limits),
            )  # fmt: skip
        write_jsonl_atomic(out, output_rows(rows, results))
        summary = RewardResult.from_scores(kind, paper, results, out)
        if json_out:
            emit_json(summary)
            return
        console.print(
            f"{kind}{' (' + paper + ' rules)' if paper else ''}: mean reward {summary.mean_reward:.4f} "
            f"over {len(results)} responses -> {out}",
            highlight=False,
        )
