"""Resumable sampling between training phases: opponents, generated tests, adversarial code.

Phases that only generate (UTRL's opponent sampling and test generation) can take hours at
paper scale, so their output is appended task by task and a restarted run skips tasks
already written. Generation goes through `atest.core.generation`, so any backend works:
transformers in-process (CPU default), vLLM on a GPU, or an OpenAI-compatible server.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from atest.core.io import JsonlAppender, read_jsonl_resumable
from atest.core.tasks import Task

ADAPTER_CONFIG = "adapter_config.json"


@contextmanager
def open_generator(
    backend: str, model_dir: str | Path, *, base_dir: str | None = None, **opts: Any
) -> Iterator[Any]:
    """A generator for a role's current policy (a full model folder, or base + LoRA adapter), freed on exit."""
    from atest.core.generation import make_generator

    path = Path(model_dir)
    if (path / ADAPTER_CONFIG).is_file():
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

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


def texts_of(completions: Sequence[Any]) -> list[str]:
    """The usable texts of one prompt's completions; failed requests are dropped, not read as answers."""
    return [c.text for c in completions if getattr(c, "error", None) is None]


def sample_resumable(
    path: Path,
    tasks: Sequence[Task],
    *,
    generator: Any,
    params: Any,
    build_prompt: Callable[[Task], list[dict]],
    to_row: Callable[[Task, list[str]], dict[str, Any]],
    batch_tasks: int = 16,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Sample `params.n` completions per task, appending one row per task; done tasks are skipped.

    Returns every row, old and new, in task order.
    """
    done = {row["task_id"]: row for row in read_jsonl_resumable(path)}
    todo = [t for t in tasks if t.task_id not in done]
    with JsonlAppender(path) as out:
        for start in range(0, len(todo), batch_tasks):
            chunk = todo[start : start + batch_tasks]
            results = generator.generate([build_prompt(t) for t in chunk], params)
            for task, completions in zip(chunk, results, strict=True):
                row = to_row(task, texts_of(completions))
                out.write(row)
                done[task.task_id] = row
            if progress is not None:
                progress(len(tasks) - len(todo) + start + len(chunk), len(tasks))
    return [done[t.task_id] for t in tasks if t.task_id in done]
