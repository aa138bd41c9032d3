"""Scoring a file of saved responses with one reward (`atest reward`), to debug rewards offline.

Each response row is `{"task_id", "response", ...}`; every other field is kept, and the
row gains `reward` and `components`. What each reward scores against:

* `utrl-test`: the task's candidates from one solution model are the opponents (UTRL's
  K code samples);
* `utrl-code`: the tests of the row (`tests`, a list of `{input, output}`, or
  `test_response`, a test generator's response parsed by the rules in force), else those of
  `--tests` (a `gen-tests` file, or `ground_truth` for the task's gold tests);
* `atgen`: the row's `buggy_code`, else the task's buggy code at `buggy_index` (default 0).

`paper="utrl"` scores the two UTRL rewards by the authors' rules: the same reward functions
with `rules=rules.UTRL`. The weights are `config`'s under both (default: the paper's).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atest.core.errors import InputError
from atest.core.io import read_text_lines
from atest.core.metrics.testsfile import GROUND_TRUTH
from atest.core.paper import utrl as paper_rules
from atest.core.parsing import parse_tests
from atest.core.rewards.atgen import AtgenItem, score_atgen
from atest.core.rewards.common import RewardResult
from atest.core.rewards.utrl import (
    UtrlCodeItem,
    UtrlRewardConfig,
    UtrlTestItem,
    score_utrl_code,
    score_utrl_tests,
)
from atest.core.rules import rules_named
from atest.core.sandbox import Executor, Limits
from atest.core.tasks import Task

KINDS: tuple[str, ...] = ("utrl-test", "utrl-code", "atgen")


@dataclass
class ResponseRow:
    location: str
    row: dict[str, Any]
    task: Task

    @property
    def response(self) -> str:
        return self.row["response"]


def read_responses(path: str | Path, tasks: Sequence[Task]) -> list[ResponseRow]:
    """Every row of a responses file, joined to its task; any bad line is fatal, by location."""
    p = Path(path)
    by_id = {t.task_id: t for t in tasks}
    rows = []
    for lineno, line in read_text_lines(p, "responses file", "pass JSON lines with 'task_id' and 'response'"):
        if not line.strip():
            continue
        loc = f"{p}:{lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{loc}: not valid JSON ({exc.msg})") from exc
        if not isinstance(obj, dict) or not isinstance(obj.get("response"), str):
            raise InputError(f"{loc}: expected a JSON object with a string 'response'")
        task_id = obj.get("task_id")
        task = by_id.get(task_id) if isinstance(task_id, str) else None
        if task is None:
            raise InputError(f"{loc}: task_id {task_id!r} is not in the tasks file")
        rows.append(ResponseRow(loc, obj, task))
    if not rows:
        raise InputError(f"{p}: no response rows")
    return rows


def default_model(tasks: Sequence[Task]) -> str:
    models = sorted({m for t in tasks for m, codes in t.candidates.items() if codes})
    if not models:
        raise InputError("no task has candidate solutions", "utrl-test scores against a model's candidates")
    return models[0]


def _opponents(row: ResponseRow, model: str) -> list[str]:
    codes = row.task.candidates.get(model)
    if not codes:
        raise InputError(
            f"{row.location}: task {row.task.task_id!r} has no candidates from {model!r}",
            "pass --solution-model with a model every task has",
        )
    return codes


def _row_tests(row: ResponseRow, paper: str | None, file_tests: dict[str, list[dict]] | None) -> list[dict]:
    if isinstance(row.row.get("tests"), list):
        return [t for t in row.row["tests"] if isinstance(t, dict) and "input" in t and "output" in t]
    if isinstance(row.row.get("test_response"), str):
        text = row.row["test_response"]
        if paper:
            return [t.to_dict() for t in paper_rules.parse_tests(text)]
        return parse_tests(text, row.task.kind, template="utrl-test").tests
    if file_tests is None:
        raise InputError(
            f"{row.location}: utrl-code needs tests",
            "add 'tests' or 'test_response' to the row, or pass --tests FILE|ground_truth",
        )
    return file_tests.get(row.task.task_id, [])


def _file_tests(tests: str | None, tasks: Sequence[Task], paper: str | None) -> dict[str, list[dict]] | None:
    if tests is None:
        return None
    if tests == GROUND_TRUTH:
        return {t.task_id: list(t.gold_tests) for t in tasks}
    if paper:
        from atest.core.metrics.utrl_paper import paper_tests

        found = paper_tests(tests, tasks)
    else:
        from atest.core.metrics.inputs import load_tests

        found = load_tests(tests, tasks).tests
    return {task_id: [t.to_dict() for t in rows] for task_id, rows in found.items()}


def _buggy(row: ResponseRow) -> str:
    if isinstance(row.row.get("buggy_code"), str):
        return row.row["buggy_code"]
    index = row.row.get("buggy_index", 0)
    if not isinstance(index, int) or not 0 <= index < len(row.task.buggy_code):
        raise InputError(
            f"{row.location}: no buggy code (task {row.task.task_id!r} has {len(row.task.buggy_code)})",
            "add 'buggy_code' or a valid 'buggy_index' to the row",
        )
    return row.task.buggy_code[index]


def score_rows(
    executor: Executor,
    kind: str,
    rows: Sequence[ResponseRow],
    *,
    paper: str | None = None,
    solution_model: str | None = None,
    tests: str | None = None,
    limits: Limits | None = None,
    config: UtrlRewardConfig | None = None,
) -> list[RewardResult]:
    """One reward per row, all rows in the same few batched sandbox calls."""
    if kind not in KINDS:
        raise InputError(f"--kind {kind!r}: expected one of {', '.join(KINDS)}")
    rules = rules_named(paper)
    config = config or UtrlRewardConfig()
    if paper and kind == "atgen":
        raise InputError("--paper utrl applies to the UTRL rewards", "drop --paper for --kind atgen")
    if kind == "utrl-test":
        model = solution_model or default_model([r.task for r in rows])
        items = [UtrlTestItem(r.task, r.response, _opponents(r, model)) for r in rows]
        return score_utrl_tests(executor, items, config, rules=rules, limits=limits)
    if kind == "utrl-code":
        file_tests = _file_tests(tests, [r.task for r in rows], paper)
        code_items = [UtrlCodeItem(r.task, r.response, _row_tests(r, paper, file_tests)) for r in rows]
        # The authors' gold-test variant (`--tests ground_truth` and no row of its own).
        gold = (
            bool(paper)
            and tests == GROUND_TRUTH
            and not any("tests" in r.row or "test_response" in r.row for r in rows)
        )
        return score_utrl_code(executor, code_items, config, rules=rules, gold_tests=gold, limits=limits)
    atgen_items = [AtgenItem(r.task, r.response, _buggy(r)) for r in rows]
    return score_atgen(executor, atgen_items, limits=limits)


def output_rows(rows: Sequence[ResponseRow], results: Sequence[RewardResult]) -> list[dict[str, Any]]:
    return [
        {**r.row, "reward": res.score, "components": res.components}
        for r, res in zip(rows, results, strict=True)
    ]
