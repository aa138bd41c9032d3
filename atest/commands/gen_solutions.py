"""`atest gen-solutions`: sample candidate solutions per task into the task file's `candidates`.

Best-of-N and fidelity need N sampled solutions per task; datasets without them get them here.
Samples are appended to `<out>.partial.jsonl` task by task (so `--resume` continues an interrupted
run); the task file is written atomically at the end and the partial file removed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from atest.commands._common import console, emit_json, handle_errors
from atest.commands.gen_tests import (
    AdapterOpt,
    BackendOpt,
    BaseUrlOpt,
    BatchOpt,
    ForceOpt,
    JsonOpt,
    KeyEnvOpt,
    ModelOpt,
    ResumeOpt,
    RetriesOpt,
    SeedOpt,
    TasksOpt,
    ThinkingOpt,
    ThreadsOpt,
    TopPOpt,
    apply_threads,
    progress_bar,
)


def partial_path(out: Path) -> Path:
    return out.with_name(out.name + ".partial.jsonl")


def register(app: typer.Typer) -> None:
    @app.command(
        "gen-solutions", help="Sample candidate solutions per task with a model into the tasks' candidates."
    )
    @handle_errors
    def _cmd(
        tasks: TasksOpt,
        out: Annotated[Path, typer.Option("--out", help="Task file to write, with candidates[NAME] filled.")],
        model: ModelOpt = "smollm2-135m",
        backend: BackendOpt = "hf",
        name: Annotated[
            str | None, typer.Option("--name", help="Key under candidates (default: the --model value).")
        ] = None,
        n: Annotated[
            int, typer.Option("--n", min=1, max=1024, help="Solutions per task (at most 1024).")
        ] = 8,
        temperature: Annotated[float, typer.Option("--temperature", min=0.0, help="0 is greedy.")] = 1.0,
        top_p: TopPOpt = 1.0,
        max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=1, max=131072)] = 1024,
        seed: SeedOpt = 0,
        batch_size: BatchOpt = None,
        adapter: AdapterOpt = None,
        base_url: BaseUrlOpt = None,
        api_key_env: KeyEnvOpt = "OPENAI_API_KEY",
        max_retries: RetriesOpt = 6,
        thinking: ThinkingOpt = False,
        threads: ThreadsOpt = None,
        resume: ResumeOpt = False,
        force: ForceOpt = False,
        json_out: JsonOpt = False,
    ) -> None:
        from atest.core import gentests, io
        from atest.core.errors import InputError
        from atest.core.generation import SamplingParams
        from atest.core.io import read_jsonl_resumable
        from atest.core.parsing import extract_code
        from atest.core.prompts import build_messages, template_id
        from atest.core.tasks import read_tasks, write_tasks

        choice = gentests.BackendChoice(
            backend,
            model,
            str(adapter) if adapter else None,
            batch_size,
            base_url,
            api_key_env,
            thinking,
            max_retries,
        )
        choice.check()
        apply_threads(threads, backend)
        key = name or choice.model_id
        params = SamplingParams(temperature, top_p, max_new_tokens, n, seed)
        task_list, problems = read_tasks(tasks)
        for problem in problems[:5]:
            console.print(f"[yellow]warning:[/] skipped {problem}", highlight=False, soft_wrap=True)
        partial = partial_path(out)
        io.check_output(out, force=force, resume=resume, resumable=True)
        io.check_output(partial, flag="--out's partial file", resume=True)
        if io.resolve_output(out).exists() and resume and not partial.exists():
            _report_finished(out, key, json_out)  # a finished run resumed: nothing left to do
            return
        if partial.exists() and not (resume or force):
            raise InputError(
                f"{partial} holds an interrupted run", "pass --resume to continue it or --force to start over"
            )
        pools = [t.task_id for t in task_list if t.candidates.get(key)]
        if pools and not force:
            raise InputError(
                f"{tasks} already has a candidate pool {key!r} ({len(pools)} task(s), first {pools[0]!r})",
                "pass --name for a new pool, or --force to replace it",
            )
        # --force starts over in a work file of its own: the old output and partial file stay
        # as they were until this run has succeeded.
        work = partial.with_name(f".{partial.name}.force") if force else partial
        if force:
            work.unlink(missing_ok=True)
        units = [gentests.Unit(t, build_messages("utrl-code", t, thinking=thinking)) for t in task_list]
        expected = {
            "model": choice.model_id,
            "backend": backend,
            "template_id": template_id("utrl-code"),
            "sampling": params.to_dict(),
        }
        done = gentests.done_keys(work, expected)

        def to_row(unit: gentests.Unit, completions: list) -> dict:
            codes = [extract_code(c.text) for c in completions]
            return {
                "task_id": unit.task.task_id,
                **expected,
                "codes": [code or "" for code in codes],
                "n_no_code": sum(code is None for code in codes),
                "responses": [c.text for c in completions],
            }

        console.print(
            f"gen-solutions: {len(units)} tasks x {n}, model {choice.model_id} ({backend})", highlight=False
        )
        generator = choice.open() if any(u.key not in done for u in units) else gentests.NoGenerator()
        try:
            with progress_bar("gen-solutions") as progress:
                stats = gentests.run_units(
                    units,
                    generator,
                    params,
                    work,
                    to_row=to_row,
                    expected=expected,
                    batch_size=choice.prompts_per_batch(params.n),
                    progress=progress,
                )
        except BaseException:
            if work != partial:
                work.unlink(missing_ok=True)
            raise
        finally:
            generator.close()
        gentests.raise_if_failed(stats, work)
        rows = {row["task_id"]: row for row in read_jsonl_resumable(work)}
        for task in task_list:
            task.candidates[key] = rows[task.task_id]["codes"]
        write_tasks(out, task_list)
        work.unlink()
        partial.unlink(missing_ok=True)
        result = {
            "n_tasks": len(task_list),
            "n_candidates": sum(len(r["codes"]) for r in rows.values()),
            "n_no_code": sum(r["n_no_code"] for r in rows.values()),
            "candidates_key": key,
            "n_skipped": stats.n_skipped,
            "generated_tokens": stats.n_tokens,
            "tokens_per_s": round(stats.tokens_per_s, 2),
            "out": str(out),
        }
        if json_out:
            emit_json(result)
        else:
            console.print(
                f"wrote {out}: {result['n_candidates']} candidates under {key!r} "
                f"({result['n_no_code']} responses had no python block, kept as empty programs)",
                highlight=False,
            )


def _report_finished(out: Path, key: str, json_out: bool) -> None:
    """`--resume` of a run that already wrote `out`: check it holds the pool, change nothing."""
    from atest.core.errors import InputError
    from atest.core.tasks import read_tasks

    finished, _ = read_tasks(out)
    missing = [t.task_id for t in finished if key not in t.candidates]
    if missing:
        raise InputError(
            f"{out} exists without a candidate pool {key!r} (first task {missing[0]!r}) and there is no "
            "partial file to resume",
            "pass --force to replace it, or another --out",
        )
    codes = [c for t in finished for c in t.candidates[key]]
    result = {
        "n_tasks": len(finished),
        "n_candidates": len(codes),
        "n_no_code": sum(1 for c in codes if not c),
        "candidates_key": key,
        "n_skipped": len(finished),
        "generated_tokens": 0,
        "tokens_per_s": 0.0,
        "out": str(out),
    }
    if json_out:
        emit_json(result)
    else:
        console.print(f"{out} is already finished: {len(codes)} candidates under {key!r}", highlight=False)
