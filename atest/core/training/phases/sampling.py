"""Resumable sampling between training phases: opponents, generated tests, adversarial code.

Phases that only generate (UTRL's opponent sampling and test generation) can take hours at
paper scale, so their output is appended task by task and a restarted run skips tasks
already written; on a launch of several processes each generates its share of the tasks.
Generation goes through `atest.core.generation`, so any backend works: transformers
in-process (CPU default), vLLM on a GPU, or an OpenAI-compatible server.
"""

from __future__ import annotations

import contextlib
import gc
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from atest.core.cpu import has_gpu
from atest.core.errors import ExternalError
from atest.core.generation.retry import first_failure, generate_retrying
from atest.core.io import JsonlAppender, read_jsonl_resumable
from atest.core.models import is_adapter_dir
from atest.core.tasks import Task
from atest.core.training.run import ranks

MAX_TASKS_PER_CALL = 16


@contextmanager
def open_generator(
    backend: str, model_dir: str | Path, *, base_dir: str | None = None, **opts: Any
) -> Iterator[Any]:
    """A generator for a role's current policy (a full model folder, or base + LoRA adapter), freed on exit."""
    from atest.core.generation import make_generator

    path = Path(model_dir)
    if is_adapter_dir(path):
        generator = make_generator(backend, base_dir or str(path), adapter=str(path), **opts)
    else:
        generator = make_generator(backend, str(path), **opts)
    try:
        yield generator
    finally:
        close = getattr(generator, "close", None)
        if callable(close):
            close()
        del generator
        release_memory()


def release_memory() -> None:
    """Give back accelerator memory between phases (a trainer and a generation engine never coexist)."""
    gc.collect()
    try:
        import torch

        if has_gpu():
            torch.cuda.empty_cache()
    except ImportError:
        pass


def texts_of(completions: Sequence[Any]) -> list[str]:
    """The usable texts of one prompt's completions; failed requests are dropped, not read as answers."""
    return [c.text for c in completions if getattr(c, "error", None) is None]


def tasks_per_call(n_tasks: int) -> int:
    """Tasks per generation call: at most 16, and few enough that a run has 8 calls or more to share out."""
    return max(1, min(MAX_TASKS_PER_CALL, n_tasks // 8))


def call_seed(seed: int | None, index: int) -> int | None:
    """The seed of the `index`-th call of a phase: the same whichever process makes the call."""
    return None if seed is None else random.Random(f"{seed}:{index}").getrandbits(31)


def sample_resumable(
    path: Path,
    tasks: Sequence[Task],
    *,
    generator: Any,
    params: Any,
    build_prompt: Callable[[Task], list[dict]],
    to_row: Callable[[Task, list[str]], dict[str, Any]],
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Sample `params.n` completions per task, appending one row per task; done tasks are skipped.

    The tasks are cut into calls of `tasks_per_call` tasks, each with its own seed, and the
    calls are dealt out to the launch's processes in turn; after each round of calls the
    main process appends the rows in task order. A call's rows therefore depend only on its
    tasks and seed, not on how many processes share the work or where a killed run stopped
    (a call cut short is redone whole; only its missing rows are written).

    A task whose completions still fail after their retry (`generation.retry`, the one failure
    policy) gets no row; once every other row is written this raises an ExternalError naming
    them, and a rerun resumes them. Every process gets every row, old and new, in task order.
    """
    done = {row["task_id"]: row for row in ranks.on_main(lambda: read_jsonl_resumable(path))}
    size = tasks_per_call(len(tasks))
    calls = [(i, list(tasks[start : start + size])) for i, start in enumerate(range(0, len(tasks), size))]
    todo = [(i, chunk) for i, chunk in calls if any(t.task_id not in done for t in chunk)]
    mine = ranks.shard(todo)
    failed: list[tuple[str, str]] = []
    with JsonlAppender(path) if ranks.is_main() else contextlib.nullcontext() as out:
        for round_no in range(-(-len(todo) // ranks.world())):
            rows: list[dict[str, Any]] = []
            if round_no < len(mine):
                index, chunk = mine[round_no]
                results = generate_retrying(
                    generator,
                    [build_prompt(t) for t in chunk],
                    replace(params, seed=call_seed(params.seed, index)),
                )
                for task, completions in zip(chunk, results, strict=True):
                    error = first_failure(completions)
                    if error is None:
                        rows.append(to_row(task, texts_of(completions)))
                    else:
                        failed.append((task.task_id, error))
            for row in (row for part in ranks.all_gather(rows) for row in part):
                if row["task_id"] not in done:
                    if out is not None:
                        out.write(row)
                    done[row["task_id"]] = row
            if progress is not None:
                progress(len(done), len(tasks))
    failures = [f for part in ranks.all_gather(failed) for f in part if f[0] not in done]
    if failures:
        raise ExternalError(
            f"{path.name}: {len(failures)} task(s) got no completion after a retry "
            f"(e.g. {failures[0][0]}: {failures[0][1]})",
            "the other rows are written; rerun to resume the failed tasks",
        )
    return [done[t.task_id] for t in tasks if t.task_id in done]
