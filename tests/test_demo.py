"""The demo end to end on a reduced setting with the embedded model: every row, every number."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

ROWS = ("(base)", "format warm-up", "GRPO", "statement examples", "gold tests")


@pytest.mark.slow
def test_reduced_demo_reports_every_row_with_numbers(tmp_path):
    out = tmp_path / "demo"
    args = [
        sys.executable, "-m", "atest", "demo", "--out", str(out), "--tasks", "2", "--mutants", "2",
        "--solutions", "2", "--warmup-steps", "2", "--steps", "1", "--max-new-tokens", "48",
        "--solution-tokens", "48", "--json",
    ]  # fmt: skip
    proc = subprocess.run(args, capture_output=True, text=True, timeout=3000)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert [any(key in row["tests"] for row in summary["rows"]) for key in ROWS] == [True] * len(ROWS)
    report = (out / "report.md").read_text()
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| tests |"))
    table = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        table.append(line)
    assert len(table) == len(ROWS)
    for key in ROWS:
        (row,) = [line for line in table if key in line]
        cells = [c.strip() for c in row.strip("|").split("|")[1:]]
        assert all(re.fullmatch(r"-?\d+(\.\d+)?( \(reference\))?", c) for c in cells), row
    assert (out / "bon.png").stat().st_size > 1000
    assert "smoke test, not a result" in report

    again = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0
    assert all(step["resumed"] for step in json.loads(again.stdout)["steps"])  # nothing ran twice
