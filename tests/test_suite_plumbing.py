"""The test suite's own plumbing (tests/conftest.py): what is built once is built once, and the
tests of a shared fixture run on one xdist worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


def test_build_once_builds_a_folder_once_and_hands_it_to_every_caller(build_once):
    calls: list[Path] = []

    def build(out: Path) -> None:
        calls.append(out)
        (out / "weights.txt").write_text("42\n")

    first = build_once("plumbing-check", build)
    again = build_once("plumbing-check", build)
    assert first == again and calls == [first]
    assert (first / "weights.txt").read_text() == "42\n"


def test_a_build_that_failed_is_redone(build_once):
    def broken(out: Path) -> None:
        (out / "half.txt").write_text("half")
        raise RuntimeError("died half-way")

    with pytest.raises(RuntimeError, match="half-way"):
        build_once("plumbing-retry", broken)
    folder = build_once("plumbing-retry", lambda out: (out / "whole.txt").write_text("whole"))
    assert sorted(p.name for p in folder.iterdir()) == [".built", "whole.txt"]


GROUPED_SUITE = {
    "conftest.py": """
        import pytest

        @pytest.hookimpl(tryfirst=True)  # as tests/conftest.py marks a shared fixture's tests
        def pytest_collection_modifyitems(config, items):
            for item in items:
                if "shared" in item.nodeid:
                    item.add_marker(pytest.mark.xdist_group("shared"))
    """,
    "test_grouped.py": """
        import json, os, time

        def record(name):
            with open(os.environ["RECORD"], "a") as f:
                f.write(json.dumps([name, os.environ["PYTEST_XDIST_WORKER"]]) + "\\n")
            time.sleep(0.2)

        def test_shared_a(): record("shared")
        def test_shared_b(): record("shared")
        def test_shared_c(): record("shared")
        def test_shared_d(): record("shared")
        def test_alone_a(): record("alone")
        def test_alone_b(): record("alone")
        def test_alone_c(): record("alone")
        def test_alone_d(): record("alone")
    """,
}


def test_a_group_marked_at_collection_runs_on_one_worker(tmp_path):
    """`make test`'s --dist loadgroup with the installed pytest and pytest-xdist: the tests
    marked with one xdist_group at collection run on one worker, so that a vLLM server or a Ray
    cluster starts once. pytest 9.2 took a node's id from elsewhere than xdist 3.8 writes the
    group into: every group was silently ignored and each shared fixture started on both
    workers, again after every switch of module (hence pytest<9.2 in the dev extra)."""
    for name, text in GROUPED_SUITE.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    record = tmp_path / "record.jsonl"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-n",
            "2",
            "--dist",
            "loadgroup",
            ".",
        ],
        cwd=tmp_path,
        env={**os.environ, "RECORD": str(record)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    rows = [json.loads(line) for line in record.read_text().splitlines()]
    assert len(rows) == 8
    assert len({worker for name, worker in rows if name == "shared"}) == 1, rows
