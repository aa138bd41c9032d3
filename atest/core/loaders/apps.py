"""TACO and APPS: hub rows and the original on-disk APPS folder layout.

Both store `solutions` and `input_output` as JSON text. `input_output` holds parallel
`inputs`/`outputs` lists and, for call-based problems, `fn_name`; call-based inputs are
argument lists. APPS call-based outputs are usually wrapped in a one-element list
(`[[false], [true]]` for a function returning a bool) but not always (`[9]`), and the APPS
harness accepts either. We unwrap when *every* output of a task is a one-element list and
mark the task with `extra["apps_outputs_unwrapped"]`; `prepare --verify` re-wraps them if the
gold solution only agrees with the wrapped reading.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from atest.core.loaders._common import (
    NO_TESTS,
    LoadProblem,
    RecordError,
    Row,
    convert_rows,
    iter_rows,
    json_field,
    require,
    stdio_text,
)
from atest.core.tasks import Task

UNWRAPPED_FLAG = "apps_outputs_unwrapped"


def load(
    source: str, path_or_id: str, split: str | None, limit: int | None
) -> tuple[list[Task], list[LoadProblem]]:
    p = Path(path_or_id)
    if p.is_dir() and _is_apps_folder(p):
        return _load_folder(source, p, split, limit)

    def convert(row: Row, loc: str, index: int) -> Task:
        ident = row.get("problem_id", row.get("id", index))
        task_id = f"{source}-{split}-{ident}" if split else f"{source}-{ident}"
        return build_task(
            source=source,
            task_id=task_id,
            question=require(row, "question"),
            solutions=json_field(row, "solutions", []),
            io=json_field(row, "input_output", None),
            starter_code=row.get("starter_code"),
            difficulty=row.get("difficulty"),
            split=split,
            # TACO's `source` (the judge site) is kept as `site`: `source` names our loader
            extra={"origin": loc, **{k: row[k] for k in ("url", "name") if row.get(k)}}
            | ({"site": row["source"]} if row.get("source") else {}),
        )

    return convert_rows(iter_rows(path_or_id, split), convert, limit)


def _is_apps_folder(p: Path) -> bool:
    return any((child / "question.txt").is_file() for child in p.iterdir() if child.is_dir())


def _load_folder(
    source: str, root: Path, split: str | None, limit: int | None
) -> tuple[list[Task], list[LoadProblem]]:
    folders = sorted(c for c in root.iterdir() if c.is_dir() and (c / "question.txt").is_file())
    rows = ((str(folder), _read_folder(folder)) for folder in folders)
    return convert_rows(rows, lambda row, loc, _i: _convert_folder(source, row, loc, split), limit)


def _read_folder(folder: Path) -> Row | Exception:
    """One APPS problem folder as a row; a file that is not valid JSON becomes a RecordError."""
    row: Row = {"_name": folder.name, "question": (folder / "question.txt").read_text(encoding="utf-8")}
    for key, fname in (("solutions", "solutions.json"), ("input_output", "input_output.json")):
        f = folder / fname
        if f.is_file():
            try:
                row[key] = json.loads(f.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                return RecordError(f"{fname}:{exc.lineno}: not valid JSON ({exc.msg})")
    meta = folder / "metadata.json"
    if meta.is_file():
        try:
            row["metadata"] = json.loads(meta.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            return RecordError(f"metadata.json:{exc.lineno}: not valid JSON ({exc.msg})")
    starter = folder / "starter_code.py"
    if starter.is_file():
        row["starter_code"] = starter.read_text(encoding="utf-8")
    return row


def _convert_folder(source: str, row: Row, loc: str, split: str | None) -> Task:
    meta = row.get("metadata") or {}
    return build_task(
        source=source,
        task_id=f"{source}-{row['_name']}",
        question=row["question"],
        solutions=row.get("solutions") or [],
        io=row.get("input_output"),
        starter_code=row.get("starter_code"),
        difficulty=meta.get("difficulty"),
        split=split,
        extra={"origin": loc, **({"url": meta["url"]} if meta.get("url") else {})},
    )


def build_task(
    *,
    source: str,
    task_id: str,
    question: Any,
    solutions: Any,
    io: Any,
    starter_code: Any,
    difficulty: Any,
    split: str | None,
    extra: dict[str, Any],
) -> Task:
    """Turn decoded APPS/TACO fields into a Task, validating each one."""
    if not isinstance(question, str) or not question.strip():
        raise RecordError("field 'question' must be non-empty text")
    if not isinstance(solutions, list) or not all(isinstance(s, str) for s in solutions):
        raise RecordError("field 'solutions' must be a JSON list of code strings")
    if io is None:
        raise RecordError("no tests: field 'input_output' is empty", NO_TESTS)
    if not isinstance(io, dict):
        raise RecordError("field 'input_output' must be a JSON object with 'inputs' and 'outputs'")
    inputs, outputs = io.get("inputs"), io.get("outputs")
    if not isinstance(inputs, list) or not isinstance(outputs, list):
        raise RecordError("field 'input_output' needs 'inputs' and 'outputs' lists")
    if len(inputs) != len(outputs):
        raise RecordError(f"field 'input_output': {len(inputs)} inputs but {len(outputs)} outputs")
    if not inputs:
        raise RecordError("no tests: field 'input_output' has no inputs", NO_TESTS)
    fn_name = io.get("fn_name")
    extra = dict(extra)
    if fn_name:
        if not isinstance(fn_name, str):
            raise RecordError("field 'input_output.fn_name' must be a string")
        kind = "functional"
        tests, unwrapped = _functional_tests(inputs, outputs)
        if unwrapped:
            extra[UNWRAPPED_FLAG] = True
    else:
        kind = "stdio"
        tests = [
            {"input": stdio_text(i), "output": stdio_text(o)} for i, o in zip(inputs, outputs, strict=True)
        ]
    return Task(
        task_id=task_id,
        question=question,
        kind=kind,
        fn_name=fn_name or None,
        starter_code=starter_code or None,
        gold_solutions=[s for s in solutions if s.strip()],
        gold_tests=tests,
        difficulty=str(difficulty) if difficulty is not None else None,
        source=source,
        split=split,
        extra=extra,
    )


def _functional_tests(inputs: list, outputs: list) -> tuple[list[dict[str, Any]], bool]:
    for n, args in enumerate(inputs):
        if not isinstance(args, (list, dict)):
            raise RecordError(f"field 'input_output.inputs[{n}]' must be a list of call arguments")
    wrapped = all(isinstance(o, list) and len(o) == 1 for o in outputs)
    tests = [
        {"input": args, "output": out[0] if wrapped else out}
        for args, out in zip(inputs, outputs, strict=True)
    ]
    return tests, wrapped


def rewrap_outputs(task: Task) -> Task:
    """The other reading of an unwrapped APPS task: every expected output back inside a one-element list."""
    tests = [{**t, "output": [t["output"]]} for t in task.gold_tests]
    return replace(task, gold_tests=tests, extra={**task.extra, UNWRAPPED_FLAG: False})
