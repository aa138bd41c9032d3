"""Task files in our own format (JSON lines or parquet), and the sample bundled with the package.

Our files claim their gold solutions are real programs, so a gold that does not parse makes the
whole record bad (reported with its file and line), unlike dataset sources where old Python 2
solutions are expected and simply dropped in `prepare`.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from atest.core.loaders._common import LoadProblem, RecordError, Row, convert_rows, iter_rows, syntax_error
from atest.core.tasks import Task, task_from_dict

SAMPLE_RESOURCE = "data/sample.jsonl"


def sample_path() -> Path:
    """Where the bundled sample lives inside the installed package."""
    return Path(str(resources.files("atest").joinpath(SAMPLE_RESOURCE)))


def load(
    source: str, path_or_id: str, split: str | None, limit: int | None
) -> tuple[list[Task], list[LoadProblem]]:
    seen: dict[str, str] = {}

    def convert(row: Row, loc: str, _index: int) -> Task:
        for key in ("gold_tests", "candidates"):
            if isinstance(row.get(key), str):  # parquet files store these two as JSON text
                try:
                    row[key] = json.loads(row[key])
                except json.JSONDecodeError as exc:
                    raise RecordError(f"field '{key}' holds text that is not JSON ({exc.msg})") from exc
        task = task_from_dict(row)
        for i, code in enumerate(task.gold_solutions):
            if (message := syntax_error(code)) is not None:
                raise RecordError(f"field 'gold_solutions[{i}]' does not parse ({message})")
        if task.task_id in seen:
            raise RecordError(f"duplicate task_id {task.task_id!r} (first at {seen[task.task_id]})")
        seen[task.task_id] = loc
        if split and task.split is None:
            task.split = split
        return task

    return convert_rows(iter_rows(path_or_id, split), convert, limit)


def load_sample(
    source: str, path_or_id: str | None, split: str | None, limit: int | None
) -> tuple[list[Task], list[LoadProblem]]:
    return load(source, str(sample_path()), split, limit)
