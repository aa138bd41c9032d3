"""`atest gen-solutions`: sample candidate solutions per task into the task file's `candidates`.

Best-of-N and fidelity need N sampled solutions per task; datasets without them get them here.
The output's resume / force policy and its rows are atest.core.solutions'.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from atest.commands._common import console, emit_json, handle_errors, progress_bar
from atest.commands._options import (
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
    SamplingSeedOpt,
    TasksOpt,
    ThinkingOpt,
    ThreadsOpt,
    TopPOpt,
    backend_choice,
    read_tasks_warned,
)
from atest.core.results import GenSolutionsResult


def register(app: typer.Typer) -> None:
    @app.command(
        "gen-solutions", help="Sample candidate solutions per task with a model into the tasks' candidates."
    )
    @handle_errors
    def _cmd(
        tasks: TasksOpt,
        out: Annotated[Path, typer.Option("--out", help="Task file to write, with candidates[NAME] filled.")],
        model: ModelOpt = "smollm2-135m",
        backend: BackendOpt = "auto",
        name: Annotated[
            str | None, typer.Option("--name", help="Key under candidates (default: the --model value).")
        ] = None,
        n: Annotated[
            int, typer.Option("--n", min=1, max=1024, help="Solutions per task (at most 1024).")
        ] = 8,
        temperature: Annotated[float, typer.Option("--temperature", min=0.0, help="0 is greedy.")] = 1.0,
        top_p: TopPOpt = 1.0,
        max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=1, max=131072)] = 1024,
        seed: SamplingSeedOpt = 0,
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
        from atest.core import gentests, solutions
        from atest.core.generation import SamplingParams
        from atest.core.prompts import build_messages, template_id

        choice = backend_choice(
            backend, model, adapter, batch_size, base_url, api_key_env, thinking, max_retries, threads
        )
        key = name or choice.model_id
        params = SamplingParams(temperature, top_p, max_new_tokens, n, seed)
        task_list = read_tasks_warned(tasks)
        output = solutions.check_output(out, tasks, task_list, key, resume=resume, force=force)
        if output.finished:  # a finished run resumed: nothing left to do
            result = GenSolutionsResult.finished(solutions.finished_pools(out, key), key, out, choice.backend)
            if json_out:
                emit_json(result)
            else:
                console.print(
                    f"{out} is already finished: {result.n_candidates} candidates under {key!r}",
                    highlight=False,
                )
            return
        units = [gentests.Unit(t, build_messages("utrl-code", t, thinking=thinking)) for t in task_list]
        expected = {
            "model": choice.model_id,
            "backend": choice.backend,
            "template_id": template_id("utrl-code"),
            "sampling": params.to_dict(),
        }
        done = gentests.done_keys(output.work, expected)

        def to_row(unit: gentests.Unit, completions: list) -> dict:
            return solutions.solution_row(unit.task.task_id, expected, [c.text for c in completions])

        console.print(
            f"gen-solutions: {len(units)} tasks x {n}, model {choice.model_id} ({choice.describe()})",
            highlight=False,
        )
        created = not output.work.exists()
        try:
            generator = choice.open() if any(u.key not in done for u in units) else gentests.NoGenerator()
            try:
                with progress_bar("gen-solutions", unit="prompts", every=0.0, tokens=True) as progress:
                    stats = gentests.run_units(
                        units,
                        generator,
                        params,
                        output.work,
                        to_row=to_row,
                        expected=expected,
                        batch_size=choice.prompts_per_batch(params.n),
                        progress=progress,
                    )
            finally:
                generator.close()
            gentests.raise_if_failed(stats, output.work)
        except BaseException:
            output.discard(created=created)
            raise
        result = GenSolutionsResult.from_rows(output.finish(task_list, key), key, stats, out, choice.backend)
        if json_out:
            emit_json(result)
        else:
            console.print(
                f"wrote {out}: {result.n_candidates} candidates under {key!r} "
                f"({result.n_no_code} responses had no python block, kept as empty programs)",
                highlight=False,
            )
