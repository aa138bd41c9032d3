"""Every file atest reads as input or writes as output goes through here: one write policy.

The policy (documented in the README, "Outputs"), so that no output is ever destroyed:

- Every output path is checked before any work starts (`check_output`): a directory, a
  device, a FIFO or any other non-regular file is refused; a folder that cannot be written
  is refused; an existing file is refused unless the command was given `--force` (replace)
  or `--resume` (continue), never both.
- A symlink is written through: the file it points to is replaced, the link stays.
- New content goes to a temporary file beside the target and is renamed over it only when
  complete (`atomic_path`), so `--force` replaces the old file only after success and a
  reader or a kill never sees half a file.
- Long jobs append one JSON line at a time (`JsonlAppender`); `--resume` reads them back
  with `read_jsonl_resumable`, which drops a torn last line (a kill mid-write) but refuses a
  file with any other unreadable line, naming it: rows are never silently deleted.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from atest.core.errors import InputError


def resolve_output(path: str | os.PathLike) -> Path:
    """The file that writing `path` changes: a symlink's destination (written through), else `path`."""
    p = Path(path)
    return Path(os.path.realpath(p)) if p.is_symlink() else p


def check_output(
    path: str | os.PathLike,
    *,
    flag: str = "--out",
    force: bool = False,
    resume: bool = False,
    may_exist: bool = False,
    directory: bool = False,
    resumable: bool = False,
) -> Path:
    """Refuse, before any work, an output that the write policy would not let us write.

    `may_exist` is for outputs a command continues by design (a cache folder); `directory`
    for outputs that are folders; `resumable` names --resume in the refusal (commands that
    have it). Returns the path the bytes will go to (symlinks resolved).
    Nothing is created or changed here.
    """
    if force and resume:
        raise InputError("--resume and --force contradict each other", "pass one of them")
    target = resolve_output(path)
    if target.exists():
        mode = target.stat().st_mode
        if directory:
            if not stat.S_ISDIR(mode):
                raise InputError(f"{flag} {path}: exists and is not a folder", f"give {flag} a folder path")
        elif stat.S_ISDIR(mode):
            raise InputError(f"{flag} {path}: is a directory", f"give {flag} a file path")
        elif not stat.S_ISREG(mode):
            raise InputError(
                f"{flag} {path}: is not a regular file (a device, pipe or socket)",
                f"give {flag} a path to a regular file",
            )
        elif not (force or resume or may_exist):
            resume_hint = "pass --resume to continue it, " if resumable else ""
            raise InputError(
                f"{flag} {path} already exists",
                f"{resume_hint}pass --force to replace it (only once the command succeeds), "
                "or choose another path",
            )
    _check_writable_folder(target.parent if not (directory and target.exists()) else target, flag, path)
    return target


def _check_writable_folder(folder: Path, flag: str, given: str | os.PathLike) -> None:
    """The nearest existing ancestor must be a folder we can create a file in (probed for real:
    permission bits say nothing for root, a read-only mount or a full quota)."""
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise InputError(f"{flag} {given}: {probe} is not a folder", f"give {flag} a path in a folder")
    try:
        fd, name = tempfile.mkstemp(prefix=".atest-probe-", dir=probe)
    except OSError as exc:
        raise InputError(
            f"{flag} {given}: cannot write in {probe} ({exc.strerror or exc})",
            f"give {flag} a path in a writable folder",
        ) from exc
    os.close(fd)
    os.unlink(name)


def check_input_file(path: str | os.PathLike, what: str, hint: str) -> Path:
    """An input file that exists and is a regular file (or a link to one)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such {what}", hint)
    if p.is_dir():
        raise InputError(f"{p}: is a directory, expected a {what}", hint)
    if not p.is_file():
        raise InputError(f"{p}: is not a regular file, expected a {what}", hint)
    return p


def read_text_lines(path: str | os.PathLike, what: str, hint: str) -> list[tuple[int, str]]:
    """The numbered lines of a UTF-8 text input (`.gz` by name; a byte-order mark is allowed).

    An unreadable file (not UTF-8, a bad gzip stream, a directory) is bad input, not a crash.
    """
    p = check_input_file(path, what, hint)
    opener = gzip.open if p.name.endswith(".gz") else open
    try:
        with opener(p, "rt", encoding="utf-8-sig") as fh:
            return list(enumerate(fh, start=1))
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{p}: not UTF-8 text (byte {exc.start} of a line: {exc.reason})",
            f"save the {what} as UTF-8 JSON lines",
        ) from exc
    except (OSError, EOFError) as exc:
        raise InputError(f"{p}: cannot read the {what} ({exc})", hint) from exc


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only if the block succeeds.

    Readers of `path` see either the old file or the complete new one, never a prefix. A
    symlink is written through (its destination is replaced); a non-regular file is refused.
    """
    target = resolve_output(path)
    if target.exists() and not target.is_file():
        raise InputError(f"{path}: is not a regular file", "write to a regular file path")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            # mkstemp makes it 0600: keep the replaced file's mode, or give a new file a normal one
            mode = target.stat().st_mode & 0o777 if target.exists() else 0o666 & ~_umask()
            os.chmod(tmp_path, mode)
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def write_jsonl_atomic(path: str | os.PathLike, rows: Iterable[dict]) -> int:
    n = 0
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


class JsonlAppender:
    """Append records one line at a time, flushed and fsynced, for resumable long jobs.

    A crash loses at most the record being written. A torn last line (no newline: a kill
    mid-write) is cut off when the file is opened again, so the next record starts on a
    line of its own; nothing else is ever removed.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = resolve_output(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _cut_torn_tail(self.path)
        self._fh = self.path.open("a", encoding="utf-8")

    def write(self, row: dict) -> None:
        self._fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _cut_torn_tail(path: Path) -> None:
    """Drop the bytes after the last newline (a torn record), and only those."""
    if not path.is_file():
        return
    size = path.stat().st_size
    if size == 0:
        return
    with path.open("r+b") as fh:
        keep = size
        chunk = 65536
        while keep > 0:
            start = max(0, keep - chunk)
            fh.seek(start)
            data = fh.read(keep - start)
            nl = data.rfind(b"\n")
            if nl >= 0:
                keep = start + nl + 1
                break
            keep = start
        if keep != size:
            fh.truncate(keep)


def remove_if_rowless(path: Path, *, created: bool) -> None:
    """After a failed run: remove the JSON-lines file it `created` if no row reached it.

    An empty output left behind would make the plain rerun refuse to overwrite it and ask for
    `--resume` of nothing; a file that was there before the run is never touched.
    """
    if created and not read_jsonl_resumable(path):
        path.unlink(missing_ok=True)


def read_jsonl_resumable(path: str | os.PathLike) -> list[dict]:
    """The records of a file written by `JsonlAppender`, for a resumed run.

    A torn last line (no final newline) is left out; any other line that is not a JSON
    object is refused, naming it, instead of being dropped with everything after it.
    Reading changes nothing on disk.
    """
    p = Path(path)
    if not p.exists():
        return []
    check_input_file(p, "JSON lines file", "write to a regular file")
    rows: list[dict] = []
    with p.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.endswith(b"\n"):
                break  # torn by a kill mid-write: never a complete record
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8-sig" if lineno == 1 else "utf-8"))
            except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
                raise InputError(
                    f"{p}:{lineno}: unreadable line ({_why(exc)}); a resumed run never drops rows",
                    "fix or delete that line, or write to a new --out",
                ) from exc
            if not isinstance(row, dict):
                raise InputError(
                    f"{p}:{lineno}: not a JSON object; a resumed run never drops rows",
                    "fix or delete that line, or write to a new --out",
                )
            rows.append(row)
    return rows


def _why(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON: {exc.msg}"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8"
    return str(exc)
