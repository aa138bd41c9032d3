"""`atest mutation-score`: how many non-equivalent mutants of the gold solutions a test set kills."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from atest.commands import _options as opt
from atest.commands._common import (
    check_outputs,
    console,
    emit_json,
    handle_errors,
    progress_bar,
    sandbox_settings,
)
from atest.commands._evaluation import fmt_ci, limits_from_options, print_warnings
from atest.core.io import write_jsonl_atomic
from atest.core.results import MutationScoreResult

if TYPE_CHECKING:
    from atest.core.mutation.score import ScoreReport

TABLE_ROWS = 15


def register(app: typer.Typer) -> None:
    @app.command(
        "mutation-score",
        help="Mutation score of a test set: the fraction of non-equivalent mutants of each gold "
        "solution that its valid tests kill, per task and overall, with bootstrap CIs.",
    )
    @handle_errors
    def _cmd(
        tasks: opt.TasksOpt,
        tests: Annotated[
            str, typer.Option("--tests", help="Tests file from `atest gen-tests`, or 'ground_truth'.")
        ],
        k: Annotated[int, typer.Option("--k", min=1, max=1000, help="Mutants per task (at most 1000).")] = 20,
        seed: Annotated[int, typer.Option("--seed", help="Seed of the mutants and of the bootstrap.")] = 0,
        probes: Annotated[
            int,
            typer.Option(
                "--probes", min=0, max=1000, help="Derived inputs per functional task to probe survivors."
            ),
        ] = 20,
        out: Annotated[
            Path | None,
            typer.Option("--out", help="Write each task's mutants and their classification as JSON lines."),
        ] = None,
        workers: opt.WorkersOpt = None,
        cache_dir: opt.CacheOpt = None,
        cpu_seconds: opt.CpuOpt = None,
        memory_mb: opt.MemoryOpt = None,
        force: opt.ForceOpt = False,
        json_out: opt.JsonOpt = False,
    ) -> None:
        from atest.core.metrics.inputs import load_tasks, load_tests
        from atest.core.metrics.testsfile import GROUND_TRUTH
        from atest.core.mutation.classify import ClassifyOptions, classify_tasks
        from atest.core.mutation.score import score_tests
        from atest.core.sandbox import get_executor

        check_outputs(force=force, cache_dir=cache_dir, out=out)
        task_list, warnings = load_tasks(tasks)
        joined = load_tests(tests, task_list)
        if joined.n_malformed:
            warnings.append(f"{joined.n_malformed} malformed test(s) in {tests} ignored")
        if joined.uncovered:
            warnings.append(
                f"{len(joined.uncovered)} task(s) have no tests in {tests} and are left out, "
                f"first {joined.uncovered[0]!r}"
            )
        covered = [t for t in task_list if t.task_id in joined.tests]
        print_warnings(warnings)
        limits = limits_from_options(cpu_seconds, memory_mb)
        opts = ClassifyOptions(k=k, seed=seed, limits=limits, n_probes=probes)
        with get_executor(workers=workers, settings=sandbox_settings(), cache_dir=cache_dir) as executor:
            with progress_bar("classifying mutants on gold tests", json_out) as progress:
                classified = classify_tasks(covered, executor, opts, progress=progress)
            with progress_bar("running the tests on mutants", json_out) as progress:
                report = score_tests(
                    executor,
                    classified,
                    None if tests == GROUND_TRUTH else joined.tests,
                    gold_limits=limits,
                    seed=seed,
                    progress=progress,
                )
        if out:
            write_jsonl_atomic(out, _details(classified, report))
        summary = MutationScoreResult.from_report(report, tests, k, seed, warnings)
        if json_out:
            emit_json(summary)
        else:
            _render(report, tests)


def _details(classified: list, report: ScoreReport) -> list[dict]:
    scores = {r.task_id: r for r in report.tasks}
    rows = []
    for tm in classified:
        row = {"task_id": tm.task.task_id, "skipped": tm.skipped}
        if tm.task.task_id in scores:
            row.update(vars(scores[tm.task.task_id]))
        row["n_valid_gold_tests"] = len(tm.valid_tests)
        row["n_probes"] = tm.n_probes
        row["mutants"] = [m.to_dict() for m in tm.mutants]
        rows.append(row)
    return rows


def _render(report: ScoreReport, tests: str) -> None:
    rows = sorted(report.tasks, key=lambda r: (r.score is None, r.score if r.score is not None else 0.0))
    shown = rows if len(rows) <= TABLE_ROWS else rows[:TABLE_ROWS]
    title = "mutation score per task" + ("" if shown is rows else f" (the {TABLE_ROWS} lowest)")
    table = Table(title=title)
    for name in ("task", "score", "killed", "non-equivalent", "likely equivalent", "valid tests"):
        table.add_column(name, justify="left" if name == "task" else "right")
    for r in shown:
        score = "n/a" if r.score is None else f"{r.score:.3f}"
        table.add_row(
            r.task_id, score, str(r.n_killed), str(r.n_non_equivalent), str(r.n_likely_equivalent),
            f"{r.n_valid_tests}/{r.n_tests}",
        )  # fmt: skip
    console.print(table)
    score = "n/a" if report.mutation_score is None else f"{report.mutation_score:.4f}"
    console.print(
        f"mutation score ({tests}): [bold]{score}[/] 95% CI {fmt_ci(report.ci95)} over {report.n_tasks} tasks, "
        f"{report.n_killed}/{report.n_non_equivalent} non-equivalent mutants killed ({report.n_mutants} generated)",
        highlight=False,
    )
    g = report.gold
    console.print(
        f"on gold tests: {g['killed']} killed, {g['crashed']} crashed, {g['timed_out']} timed out, "
        f"{g['survived']} survived ({g['distinguished']} distinguished by probes, "
        f"{g['likely_equivalent']} likely equivalent, {g['unprobed']} unprobed)",
        highlight=False,
    )
    for reason, n in report.skipped.items():
        console.print(f"[yellow]skipped[/] {n} task(s): {reason}", highlight=False)
