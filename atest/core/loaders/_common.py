"""What every loader shares: reading raw records from a file, folder or hub id, and small converters.

Loaders turn one source's rows into `Task`s. A row that cannot be converted becomes a
`LoadProblem` naming its location and field, so `prepare` can report it (or fail on it with
`--strict`) instead of silently losing data.
"""

from __future__ import annotations

import ast
import contextlib
import gzip
import json
import math
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atest.core import parsing
from atest.core.errors import ExternalError, InputError
from atest.core.tasks import Task

# Why a record did not become a task. `bad_record` is an input error (fatal with --strict);
# the others are known, deliberate skips.
BAD_RECORD = "bad_record"
UNSUPPORTED_TYPE = "unsupported_type"
NO_TESTS = "no_tests"

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_JSON_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".ndjson")


@dataclass
class LoadProblem:
    """One record that did not become a task: where it is, what is wrong, and the drop reason."""

    location: str
    message: str
    reason: str = BAD_RECORD

    @property
    def is_error(self) -> bool:
        return self.reason == BAD_RECORD

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class RecordError(ValueError):
    """Raised inside a row converter; `reason` says whether it is bad data or a deliberate skip."""

    def __init__(self, message: str, reason: str = BAD_RECORD):
        super().__init__(message)
        self.reason = reason


Row = dict[str, Any]
Converter = Callable[[Row, str, int], Task]  # (row, location, 0-based record index)


def is_hub_id(text: str) -> bool:
    """`owner/name` that is not an existing local path: resolved with `datasets.load_dataset`."""
    looks_like_file = text.lower().endswith((*_JSON_SUFFIXES, ".parquet"))
    return bool(_HUB_ID.match(text)) and not looks_like_file and not Path(text).exists()


def iter_rows(path_or_id: str, split: str | None) -> Iterator[tuple[str, Row | Exception]]:
    """Yield (location, row) for every record; an undecodable record yields an exception instead.

    A file is read by its extension (JSON lines, a JSON array, parquet); a folder or hub id goes
    through `datasets.load_dataset`, so hub datasets and their local snapshots behave the same.
    """
    p = Path(path_or_id)
    if p.is_file():
        yield from _iter_file(p)
    elif p.is_dir():
        yield from _iter_datasets(str(p), split)
    elif is_hub_id(path_or_id):
        yield from _iter_datasets(path_or_id, split)
    else:
        raise InputError(f"{path_or_id}: no such file or folder", "check --path, or pass a hub id owner/name")


def _iter_file(p: Path) -> Iterator[tuple[str, Row | Exception]]:
    name = p.name.lower()
    if name.endswith(".parquet"):
        yield from _iter_parquet(p)
    elif name.endswith(_JSON_SUFFIXES):
        yield from _iter_json(p)
    else:
        raise InputError(f"{p}: unsupported file type", "expected .jsonl, .jsonl.gz, .json or .parquet")


def _iter_parquet(p: Path) -> Iterator[tuple[str, Row | Exception]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(p)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise InputError(f"{p}: not a readable parquet file ({exc})") from exc
    n = 0
    for batch in pf.iter_batches(batch_size=256):
        for row in batch.to_pylist():
            n += 1
            yield f"{p}:row {n}", row


def _iter_json(p: Path) -> Iterator[tuple[str, Row | Exception]]:
    opener = gzip.open if p.name.lower().endswith(".gz") else open
    try:
        with opener(p, "rt", encoding="utf-8") as fh:
            first = _first_char(fh)
            if first == "[":
                yield from _iter_json_array(p, fh.read())
                return
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield f"{p}:{lineno}", RecordError(f"not valid JSON ({exc.msg})")
                    continue
                yield (
                    f"{p}:{lineno}",
                    row if isinstance(row, dict) else RecordError("record is not a JSON object"),
                )
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise InputError(f"{p}: cannot read ({exc})", "expected UTF-8 JSON lines, .gz or .parquet") from exc


def _first_char(fh: Any) -> str:
    """Peek at the first non-space character, then rewind, to tell a JSON array from JSON lines."""
    while True:
        ch = fh.read(1)
        if not ch or not ch.isspace():
            fh.seek(0)
            return ch


def _iter_json_array(p: Path, text: str) -> Iterator[tuple[str, Row | Exception]]:
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{p}:{exc.lineno}: not valid JSON ({exc.msg})") from exc
    for i, row in enumerate(rows, start=1):
        yield f"{p}:item {i}", row if isinstance(row, dict) else RecordError("record is not a JSON object")


def _iter_datasets(path_or_id: str, split: str | None) -> Iterator[tuple[str, Row | Exception]]:
    import datasets

    try:
        ds = datasets.load_dataset(path_or_id, split=split or "train")
    except (FileNotFoundError, ValueError) as exc:
        raise InputError(f"{path_or_id}: cannot load as a dataset ({_first_line(exc)})") from exc
    except (ConnectionError, OSError) as exc:
        raise ExternalError(
            f"{path_or_id}: cannot reach the dataset ({_first_line(exc)})",
            "download it first, or pass a local file with --path",
        ) from exc
    for i, row in enumerate(ds, start=1):
        yield f"{path_or_id}[{split or 'train'}]:row {i}", row


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def convert_rows(
    rows: Iterator[tuple[str, Row | Exception]], convert: Converter, limit: int | None
) -> tuple[list[Task], list[LoadProblem]]:
    """Run a source's row converter over every record, collecting problems instead of stopping."""
    tasks: list[Task] = []
    problems: list[LoadProblem] = []
    for loc, row in rows:
        if limit is not None and len(tasks) + len(problems) >= limit:
            break
        try:
            if isinstance(row, Exception):
                raise row
            tasks.append(convert(row, loc, len(tasks) + len(problems)))
        except RecordError as exc:
            problems.append(LoadProblem(loc, str(exc), exc.reason))
        except ValueError as exc:
            problems.append(LoadProblem(loc, str(exc)))
    return tasks, problems


# --- field helpers shared by the converters -------------------------------------------------


def require(row: Row, *names: str) -> Any:
    """The first present, non-null field among `names`; a RecordError naming it otherwise."""
    for name in names:
        if row.get(name) is not None:
            return row[name]
    raise RecordError(f"missing field '{names[0]}'")


def json_field(row: Row, name: str, default: Any = None) -> Any:
    """A field that datasets store as JSON text (or already decoded); a RecordError naming it if broken."""
    value = row.get(name)
    if value is None or value == "":
        return default
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise RecordError(f"field '{name}' is not valid JSON ({exc.msg})") from exc


def str_list(value: Any, name: str) -> list[str]:
    """A field that may be one string or a list of strings, as a list of non-empty strings."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, (list, tuple)) and all(isinstance(x, str) for x in value):
        return [x for x in value if x.strip()]
    raise RecordError(f"field '{name}' must be a string or a list of strings")


def stdio_text(value: Any) -> str:
    """APPS/TACO sometimes store a stdin or stdout as a list of lines; join them the way a file would."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(x, str) for x in value):
        return "\n".join(value) + ("\n" if value else "")
    raise RecordError(f"stdio test value must be text, got {type(value).__name__}")


def is_json_value(value: Any) -> bool:
    """True for values that survive a JSON round trip unchanged (no NaN/inf, sets, bytes, tuples)."""
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(is_json_value(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_json_value(v) for k, v in value.items())
    return False


def extract_code(text: str) -> str:
    """The code of a stored model response: `parsing.extract_code` (the one rule: the last
    python block, or an untagged one that is not a test), or the text itself when it has none
    (datasets store plain programs too)."""
    code = parsing.extract_code(text)
    return text if code is None else code


def code_list(row: Row, name: str) -> list[str]:
    """Code stored as one string, a list of strings, or JSON text of a list of strings."""
    value = row.get(name)
    if isinstance(value, str) and value.lstrip().startswith("["):
        with contextlib.suppress(json.JSONDecodeError):  # else a program starting with "[": keep as code
            value = json.loads(value)
    return str_list(value, name)


def syntax_error(code: str) -> str | None:
    """Why `code` is not valid Python 3 (`line N: message`), or None when it parses."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)  # e.g. invalid escapes in old solutions
            ast.parse(code)
    except SyntaxError as exc:
        return f"line {exc.lineno}: {exc.msg}"
    except (ValueError, RecursionError, MemoryError) as exc:
        return type(exc).__name__
    return None
