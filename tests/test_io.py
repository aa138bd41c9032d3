"""Output files are complete or absent; appended logs survive a torn last line."""

from __future__ import annotations

import json

import pytest

from atest.core.io import JsonlAppender, atomic_path, read_jsonl_resumable, write_jsonl_atomic


def test_atomic_path_leaves_old_file_when_block_fails(tmp_path):
    target = tmp_path / "out.jsonl"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("boom")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_atomic_path_creates_no_file_on_failure(tmp_path):
    target = tmp_path / "sub" / "new.jsonl"
    with pytest.raises(ValueError), atomic_path(target):
        raise ValueError
    assert not target.exists()
    assert list((tmp_path / "sub").iterdir()) == []


def test_write_jsonl_atomic_round_trip(tmp_path):
    rows = [{"a": 1}, {"b": "é"}]
    assert write_jsonl_atomic(tmp_path / "x.jsonl", rows) == 2
    assert [json.loads(x) for x in (tmp_path / "x.jsonl").read_text().splitlines()] == rows


def test_resumable_reader_drops_torn_tail_and_appending_continues(tmp_path):
    path = tmp_path / "log.jsonl"
    with JsonlAppender(path) as app:
        app.write({"i": 0})
        app.write({"i": 1})
    with path.open("a") as fh:
        fh.write('{"i": 2, "trunc')
    assert read_jsonl_resumable(path) == [{"i": 0}, {"i": 1}]
    with JsonlAppender(path) as app:
        app.write({"i": 2})
    assert [r["i"] for r in read_jsonl_resumable(path)] == [0, 1, 2]


def test_resumable_reader_of_missing_file_is_empty(tmp_path):
    assert read_jsonl_resumable(tmp_path / "nope.jsonl") == []


def test_atomic_files_get_a_normal_mode(tmp_path):
    import os

    from atest.core.io import write_text_atomic

    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "f.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o644
