"""`atest gen-tests`: a model writes unit tests for every task; one JSON line per prompt."""

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
from atest.core.results import GenTestsResult


def register(app: typer.Typer) -> None:
    @app.command(
        "gen-tests", help="Generate unit tests for every task with a model (hf, openai or vllm backend)."
    )
    @handle_errors
    def _cmd(
        tasks: TasksOpt,
        out: Annotated[
            Path, typer.Option("--out", help="Output .jsonl: one line per task (per buggy code for atgen).")
        ],
        model: ModelOpt = "smollm2-135m",
        backend: BackendOpt = "auto",
        prompt: Annotated[
            str,
            typer.Option(
                "--prompt", help="utrl (many tests), atgen (one test per buggy code), cure (one test)."
            ),
        ] = "utrl",
        n: Annotated[
            int, typer.Option("--n", min=1, max=1024, help="Responses per prompt (at most 1024).")
        ] = 1,
        temperature: Annotated[float, typer.Option("--temperature", min=0.0, help="0 is greedy.")] = 0.0,
        top_p: TopPOpt = 1.0,
        max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=1, max=131072)] = 512,
        n_tests: Annotated[
            int, typer.Option("--n-tests", min=1, help="Tests the utrl prompt asks for.")
        ] = 12,
        tests_per_task: Annotated[
            int | None,
            typer.Option(
                "--tests-per-task",
                min=1,
                help="atgen for best-of-N (ATGEN's 10): K prompts per task, the j-th showing candidate "
                "j mod C of the task's C candidates. Without it: one prompt per buggy code.",
            ),
        ] = None,
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
        from atest.core import gentests
        from atest.core.errors import InputError
        from atest.core.generation import SamplingParams
        from atest.core.prompts import template_id

        if prompt not in gentests.PROMPTS:
            raise InputError(
                f"--prompt {prompt!r} is unknown", f"choose one of: {', '.join(gentests.PROMPTS)}"
            )
        template = gentests.PROMPTS[prompt]
        choice = backend_choice(
            backend, model, adapter, batch_size, base_url, api_key_env, thinking, max_retries, threads
        )
        params = SamplingParams(temperature, top_p, max_new_tokens, n, seed)
        task_list = read_tasks_warned(tasks)
        if tests_per_task is not None and prompt != "atgen":
            raise InputError(
                "--tests-per-task applies to --prompt atgen", "use --n-tests for the utrl prompt"
            )
        units, n_without = gentests.prompt_units(
            task_list, template, thinking=thinking, n_tests=n_tests, tests_per_task=tests_per_task
        )
        needed = "candidates" if tests_per_task is not None else "buggy_code"
        if not units:
            hint = (
                "attach candidates (atest gen-solutions)"
                if tests_per_task is not None
                else "--prompt atgen needs tasks with buggy_code (or --tests-per-task with candidates)"
            )
            raise InputError(f"{tasks}: no task has {needed}", hint)
        if n_without:
            console.print(f"[yellow]warning:[/] {n_without} task(s) have no {needed} and get no prompt")
        if n > 1 and params.greedy:
            console.print("[yellow]warning:[/] --n > 1 with --temperature 0 repeats the same response")
        work = gentests.check_output(out, resume=resume, force=force)
        meta = {
            "model": choice.model_id,
            "backend": choice.backend,
            "template": template,
            "template_id": template_id(template),
            "sampling": params.to_dict(),
        }
        # Refuses a mismatched --resume before any model is loaded.
        done = gentests.done_keys(work, gentests.expected_meta(meta))
        console.print(
            f"gen-tests: {len(units)} prompts, model {choice.model_id} ({choice.describe()})", highlight=False
        )
        try:
            with progress_bar("gen-tests", unit="prompts", every=0.0, tokens=True) as progress:
                stats = gentests.write_tests(
                    units, choice, params, work, template=template, meta=meta, done=done, progress=progress
                )
        except BaseException:
            if work != out:
                work.unlink(missing_ok=True)  # --force: the old --out stays as it was
            raise
        gentests.finish_output(work, out)
        result = GenTestsResult.from_run(
            gentests.summarize_tests(out, units), task_list, units, stats, f"tasks_without_{needed}", n_without,
            model=choice.model_id, backend=choice.backend, template_id=meta["template_id"], out=out,
        )  # fmt: skip
        if json_out:
            emit_json(result)
        else:
            console.print(
                f"wrote {out}: {result.n_tests} tests for {result.n_tasks} tasks "
                f"({result.n_parse_failures} of {result.n_responses} responses gave no test; "
                f"{result.tokens_per_s} tokens/s)",
                highlight=False,
            )
