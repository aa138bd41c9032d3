"""`gen-solutions`' output: candidate solutions sampled into a task file's `candidates[KEY]`.

Samples are appended to `<out>.partial.jsonl` task by task, so `--resume` continues an
interrupted run; the task file is written atomically at the end and the partial file removed.
`--force` starts over in a work file of its own, so the old output and partial file stay as
they were until the run has succeeded (atest.core.io's write policy).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atest.core import io
from atest.core.errors import InputError
from atest.core.parsing import extract_code
from atest.core.tasks import Task, read_tasks, write_tasks


def partial_path(out: Path) -> Path:
    return out.with_name(out.name + ".partial.jsonl")


@dataclass(frozen=True)
class SolutionsOutput:
    out: Path
    partial: Path  # where an interrupted run left its samples
    work: Path  # where this run appends: the partial file, or with --force a fresh one
    finished: bool  # --resume of a run that already wrote `out`: nothing left to do

    def discard(self, *, created: bool) -> None:
        """A failed run: drop a --force run's own work file (the old output stays as it was), and
        a partial file this run `created` without a row in it (it would make the plain rerun
        refuse, asking for --resume of nothing)."""
        if self.work != self.partial:
            self.work.unlink(missing_ok=True)
        else:
            io.remove_if_rowless(self.work, created=created)

    def finish(self, tasks: list[Task], key: str) -> list[dict[str, Any]]:
        """Fill every task's `candidates[key]` from the work file, write `out`, drop the partials."""
        rows = {row["task_id"]: row for row in io.read_jsonl_resumable(self.work)}
        for task in tasks:
            task.candidates[key] = rows[task.task_id]["codes"]
        write_tasks(self.out, tasks)
        self.work.unlink()
        self.partial.unlink(missing_ok=True)
        return [rows[t.task_id] for t in tasks]


def check_output(
    out: Path, tasks_path: Path, tasks: list[Task], key: str, *, resume: bool, force: bool
) -> SolutionsOutput:
    """The output checked before any model is loaded: refuse to clobber a pool or mix runs."""
    partial = partial_path(out)
    io.check_output(out, force=force, resume=resume, resumable=True)
    io.check_output(partial, flag="--out's partial file", resume=True)
    if io.resolve_output(out).exists() and resume and not partial.exists():
        return SolutionsOutput(out, partial, partial, finished=True)
    if partial.exists() and not (resume or force):
        raise InputError(
            f"{partial} holds an interrupted run", "pass --resume to continue it or --force to start over"
        )
    pools = [t.task_id for t in tasks if t.candidates.get(key)]
    if pools and not force:
        raise InputError(
            f"{tasks_path} already has a candidate pool {key!r} ({len(pools)} task(s), first {pools[0]!r})",
            "pass --name for a new pool, or --force to replace it",
        )
    work = partial.with_name(f".{partial.name}.force") if force else partial
    if force:
        work.unlink(missing_ok=True)
    return SolutionsOutput(out, partial, work, finished=False)


def finished_pools(out: Path, key: str) -> list[list[str]]:
    """`--resume` of a run that already wrote `out`: each task's pool, checked to be there."""
    finished, _ = read_tasks(out)
    missing = [t.task_id for t in finished if key not in t.candidates]
    if missing:
        raise InputError(
            f"{out} exists without a candidate pool {key!r} (first task {missing[0]!r}) and there is no "
            "partial file to resume",
            "pass --force to replace it, or another --out",
        )
    return [t.candidates[key] for t in finished]


def solution_row(task_id: str, expected: dict[str, Any], texts: list[str]) -> dict[str, Any]:
    """One task's samples as a partial-file row: the code of each response ("" without a block)."""
    codes = [extract_code(text) for text in texts]
    return {
        "task_id": task_id,
        **expected,
        "codes": [code or "" for code in codes],
        "n_no_code": sum(code is None for code in codes),
        "responses": texts,
    }
