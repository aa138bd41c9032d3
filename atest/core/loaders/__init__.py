"""Dataset loaders: one module per source, all returning tasks in our format plus the records they skipped.

`load_source(source, path_or_id)` reads a local file, a local folder, or a hub id (through
`datasets.load_dataset`) and never executes dataset content; verification happens later,
in `prepare`, through the sandbox.
"""

from __future__ import annotations

from collections.abc import Callable

from atest.core.errors import InputError
from atest.core.loaders import apps, atgen, codecontests, humaneval, leetcode, livecodebench, native, utrl
from atest.core.loaders._common import BAD_RECORD, NO_TESTS, UNSUPPORTED_TYPE, LoadProblem
from atest.core.tasks import Task

Loader = Callable[[str, str, str | None, int | None], tuple[list[Task], list[LoadProblem]]]

SOURCES: dict[str, Loader] = {
    "taco": apps.load,
    "apps": apps.load,
    "livecodebench": livecodebench.load,
    "codecontests": codecontests.load,
    "leetcode": leetcode.load,
    "humaneval": humaneval.load,
    "utrl": utrl.load,
    "atgen": atgen.load,
    "jsonl": native.load,
    "parquet": native.load,
    "sample": native.load_sample,
}

__all__ = ["BAD_RECORD", "NO_TESTS", "SOURCES", "UNSUPPORTED_TYPE", "LoadProblem", "load_source"]


def load_source(
    source: str, path_or_id: str | None, split: str | None = None, limit: int | None = None
) -> tuple[list[Task], list[LoadProblem]]:
    """Load `source` from a file, folder or hub id; return (tasks, problems).

    Raises InputError for an unknown source, a missing/unreadable path, or a dataset with no
    records at all; bad or skipped records come back as problems, each naming its location.
    """
    loader = SOURCES.get(source)
    if loader is None:
        raise InputError(f"unknown source {source!r}", f"choose one of: {', '.join(SOURCES)}")
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be at least 1, got {limit}")
    if source in ("sample", "humaneval"):
        path_or_id = path_or_id or ""
    elif not path_or_id:
        raise InputError(f"source {source!r} needs --path (a file, folder or hub id)")
    tasks, problems = loader(source, path_or_id, split, limit)
    if not tasks and not problems:
        raise InputError(f"{path_or_id or source}: the dataset is empty (no records)")
    return tasks, problems
