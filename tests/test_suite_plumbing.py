"""The test suite's own plumbing (tests/conftest.py): what is built once is built once."""

from __future__ import annotations

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
