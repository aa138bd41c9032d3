"""The task format: the contract every command reads and writes.

One task per JSON line (or one row of a parquet file). Fields beyond the known ones
are kept in `extra` and written back unchanged, so files can carry a user's own metadata.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from atest.core.errors import InputError
from atest.core.io import atomic_path

Kind = Literal["stdio", "functional"]
KINDS: tuple[str, ...] = ("stdio", "functional")


@dataclass
class Task:
    task_id: str
    question: str
    kind: Kind
    gold_solutions: list[str]
    gold_tests: list[dict[str, Any]]
    fn_name: str | None = None
    starter_code: str | None = None
    candidates: dict[str, list[str]] = field(default_factory=dict)
    buggy_code: list[str] = field(default_factory=list)
    difficulty: str | None = None
    source: str = "unknown"
    split: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        row = {
            "task_id": self.task_id,
            "question": self.question,
            "kind": self.kind,
            "fn_name": self.fn_name,
            "starter_code": self.starter_code,
            "gold_solutions": self.gold_solutions,
            "gold_tests": self.gold_tests,
            "candidates": self.candidates,
            "buggy_code": self.buggy_code,
            "difficulty": self.difficulty,
            "source": self.source,
            "split": self.split,
        }
        row.update(self.extra)
        return row


_KNOWN = {
    "task_id", "question", "kind", "fn_name", "starter_code", "gold_solutions", "gold_tests",
    "candidates", "buggy_code", "difficulty", "source", "split",
}  # fmt: skip


@dataclass
class RecordProblem:
    """One bad record: where it is and what is wrong with it."""

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


def _check_str_list(value: Any, name: str) -> str | None:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        return f"field '{name}' must be a list of strings"
    return None


def task_from_dict(row: Any) -> Task:
    """Build a Task from a decoded record, raising ValueError naming the first bad field."""
    if not isinstance(row, dict):
        raise ValueError("record is not a JSON object")
    for name in ("task_id", "question", "kind"):
        if name not in row or row[name] is None:
            raise ValueError(f"missing field '{name}'")
    if not isinstance(row["task_id"], str) or not row["task_id"]:
        raise ValueError("field 'task_id' must be a non-empty string")
    if not isinstance(row["question"], str):
        raise ValueError("field 'question' must be a string")
    kind = row["kind"]
    if kind not in KINDS:
        raise ValueError(f"field 'kind' is {kind!r}; expected 'stdio' or 'functional'")
    fn_name = row.get("fn_name")
    if kind == "functional" and not (isinstance(fn_name, str) and fn_name):
        raise ValueError("functional task needs a non-empty 'fn_name'")
    gold_solutions = row.get("gold_solutions") or []
    if err := _check_str_list(gold_solutions, "gold_solutions"):
        raise ValueError(err)
    gold_tests = row.get("gold_tests") or []
    if not isinstance(gold_tests, list):
        raise ValueError("field 'gold_tests' must be a list")
    for i, t in enumerate(gold_tests):
        if not isinstance(t, dict) or "input" not in t or "output" not in t:
            raise ValueError(f"gold_tests[{i}] must be an object with 'input' and 'output'")
        if kind == "stdio" and not (isinstance(t["input"], str) and isinstance(t["output"], str)):
            raise ValueError(f"gold_tests[{i}]: stdio tests need string 'input' and 'output'")
        if kind == "functional" and not isinstance(t["input"], (list, dict)):
            raise ValueError(
                f"gold_tests[{i}]: functional 'input' must be a JSON list or object of arguments"
            )
    candidates = row.get("candidates") or {}
    if not isinstance(candidates, dict):
        raise ValueError("field 'candidates' must be an object {model: [code, ...]}")
    for model, codes in candidates.items():
        if err := _check_str_list(codes, f"candidates.{model}"):
            raise ValueError(err)
    buggy = row.get("buggy_code") or []
    if err := _check_str_list(buggy, "buggy_code"):
        raise ValueError(err)
    return Task(
        task_id=row["task_id"],
        question=row["question"],
        kind=kind,
        fn_name=fn_name,
        starter_code=row.get("starter_code"),
        gold_solutions=list(gold_solutions),
        gold_tests=list(gold_tests),
        candidates={k: list(v) for k, v in candidates.items()},
        buggy_code=list(buggy),
        difficulty=row.get("difficulty"),
        source=row.get("source") or "unknown",
        split=row.get("split"),
        extra={k: v for k, v in row.items() if k not in _KNOWN},
    )


def _raw_records(path: Path) -> Iterable[tuple[str, Any]]:
    """Yield (location, decoded record) pairs; undecodable lines yield an exception object."""
    name = path.name
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow raises several unrelated types for a bad file
            raise InputError(f"{path}: not a readable parquet file ({exc})") from exc
        for i, row in enumerate(table.to_pylist(), start=1):
            yield f"{path}:row {i}", _from_parquet_row(row)
        return
    opener = gzip.open if name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig") as fh:  # a byte-order mark is not a record
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    yield f"{path}:{lineno}", json.loads(line)
                except json.JSONDecodeError as exc:
                    yield f"{path}:{lineno}", ValueError(f"not valid JSON ({exc.msg})")
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise InputError(
            f"{path}: cannot read ({exc})", "expected UTF-8 JSON lines, .gz or .parquet"
        ) from exc


def read_tasks(path: str | Path, strict: bool = False) -> tuple[list[Task], list[RecordProblem]]:
    """Read a task file, returning the good tasks and every bad record with its location.

    With `strict`, any bad record is fatal. Duplicate task ids are always fatal, since every
    downstream join (tests, candidates, results) is by task id.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file", "check the path, or create it with `atest prepare`")
    if p.is_dir():
        raise InputError(f"{p}: is a directory, expected a .jsonl or .parquet task file")
    if not p.is_file():
        raise InputError(f"{p}: is not a regular file, expected a .jsonl or .parquet task file")
    tasks: list[Task] = []
    problems: list[RecordProblem] = []
    seen: dict[str, str] = {}
    for loc, row in _raw_records(p):
        try:
            if isinstance(row, Exception):
                raise row
            task = task_from_dict(row)
        except ValueError as exc:
            problems.append(RecordProblem(loc, str(exc)))
            continue
        if task.task_id in seen:
            raise InputError(f"{loc}: duplicate task_id {task.task_id!r} (first at {seen[task.task_id]})")
        seen[task.task_id] = loc
        tasks.append(task)
    if strict and problems:
        raise InputError(f"{problems[0]} ({len(problems)} bad record(s); drop --strict to skip them)")
    if not tasks:
        detail = f"; first problem: {problems[0]}" if problems else ""
        raise InputError(f"{p}: no valid task{detail}")
    return tasks, problems


def write_tasks(path: str | Path, tasks: Iterable[Task]) -> int:
    """Write tasks atomically as JSON lines or parquet, chosen by the file extension."""
    p = Path(path)
    rows = [t.to_dict() for t in tasks]
    with atomic_path(p) as tmp:
        if p.name.endswith(".parquet"):
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pylist(_parquet_safe(rows)), tmp)
        else:
            opener = gzip.open if p.name.endswith(".gz") else open
            with opener(tmp, "wt", encoding="utf-8") as fh:
                for row in rows:
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(rows)


def _from_parquet_row(row: dict) -> dict | Exception:
    for key in ("gold_tests", "candidates"):
        if isinstance(row.get(key), str):
            try:
                row[key] = json.loads(row[key])
            except json.JSONDecodeError as exc:
                return ValueError(f"field '{key}' holds text that is not JSON ({exc.msg})")
    return row


def _parquet_safe(rows: list[dict]) -> list[dict]:
    """Parquet needs one type per column; test values and candidate maps vary, so store them as JSON text."""
    out = []
    for row in rows:
        r = dict(row)
        for key in ("gold_tests", "candidates"):
            r[key] = json.dumps(r[key], ensure_ascii=False)
        out.append(r)
    return out
