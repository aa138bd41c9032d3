"""Each formula once: the decisions every reward, metric and loop share live in one place.

These tests fail when a second copy of a shared rule comes back: a module deciding pass or
fail on its own (a `judge(...)` compared with ACCEPTED, a status compared with OK, a direct
`executor.run`) instead of calling `atest.core.checking`.
"""

from __future__ import annotations

import re
from pathlib import Path

import atest

PACKAGE = Path(atest.__file__).parent
# The layers that own the rules: the sandbox runs and judges, checking is the one pass verdict.
OWNERS = ("core/sandbox/", "core/checking/")


def _sources() -> dict[str, str]:
    return {
        p.relative_to(PACKAGE).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(PACKAGE.rglob("*.py"))
        if not p.relative_to(PACKAGE).as_posix().startswith(OWNERS)
    }


def _offenders(pattern: str) -> list[str]:
    rule = re.compile(pattern)
    return [f"{path}:{n}" for path, text in _sources().items() for n, line in enumerate(text.splitlines(), 1)
            if rule.search(line)]  # fmt: skip


def test_no_module_judges_a_run_outside_checking():
    assert _offenders(r"\bjudge\(|Verdict\.ACCEPTED|Status\.OK\b|outputs_match\(") == []


def test_no_module_runs_the_executor_outside_checking():
    assert _offenders(r"\bexecutor\.run\(") == []
