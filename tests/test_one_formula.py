"""Each formula once: the decisions every reward, metric and loop share live in one place.

These tests fail when a second copy of a shared rule comes back: a module deciding pass or
fail on its own (a `judge(...)` compared with ACCEPTED, a status compared with OK, a direct
`executor.run`) instead of calling `atest.core.checking`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import atest
from atest.core.checking import MAX_INPUT_CHARS, PairCheck, Test
from atest.core.errors import ExternalError
from atest.core.generation import Completion, SamplingParams
from atest.core.metrics.scoring import attack_units
from atest.core.rewards import AtgenItem, judge_atgen
from atest.core.sandbox import Limits, get_executor
from atest.core.tasks import Task

PACKAGE = Path(atest.__file__).parent
# The layers that own the rules: the sandbox runs and judges, checking is the one pass verdict.
OWNERS = ("core/sandbox/", "core/checking/")
LIMITS = Limits(cpu_seconds=0.5, wall_seconds=3.0)


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


# ---- ATGEN: the reward and the metrics decide each pair alike ----------------------------------

GOLD = "a, b = map(int, input().split())\nprint(a + b)\n"
SUM = Task("sum", "Print a + b.", "stdio", [GOLD], [{"input": "1 2\n", "output": "3\n"}], difficulty="easy")
HALF = Task("half", "Print n / 2.", "stdio", ["print(int(input()) / 2)\n"], [], difficulty="hard")
READ = "a, b = map(int, input().split())\n"
BUGGY = {
    "abs": READ + "print(abs(a) + b)\n",
    "crash": READ + "print(a + b if a >= 0 else [][0])\n",
    "slow": READ + "while a > 100:\n    pass\nprint(a + b)\n",
    "copy": GOLD,
}
# Off by less than the float tolerance at n = 0: it passes against gold(0) = 0.0 but not against
# y = 9e-7, which gold(0) passes (closeness is not transitive): no attack, since gold(x) decides.
HALF_BUGGY = "n = int(input())\nprint(n / 2 - (9e-7 if n == 0 else 0) + (1 if n == 3 else 0))\n"


def _atgen(inp: str, out: str) -> str:
    return f"<reasoning>why</reasoning>\n```\nInput:\n{inp}\n\nOutput:\n{out}\n```\n"


def _corpus() -> list[AtgenItem]:
    pairs = [("-1 2", "1"), ("-1 2", "3"), ("1 2", "3"), ("1 2", "4"), ("x y", ""), ("200 1", "201")]
    items = [AtgenItem(SUM, _atgen(i, o), b) for i, o in pairs for b in BUGGY.values()]
    items += [AtgenItem(SUM, "no test here", b) for b in BUGGY.values()]
    items.append(AtgenItem(SUM, _atgen("1 2", "3").replace("<reasoning>why</reasoning>\n", ""), BUGGY["abs"]))
    items.append(AtgenItem(SUM, _atgen("1 " * (MAX_INPUT_CHARS // 2 + 1), "0"), BUGGY["abs"]))
    items += [
        AtgenItem(HALF, _atgen(n, y), HALF_BUGGY)
        for n, y in (("20", "10.0"), ("0", "0.0000009"), ("3", "1.5"))
    ]
    return items


def test_atgen_reward_and_attack_metrics_agree_unit_by_unit():
    items = _corpus()
    with get_executor(workers=2) as executor:
        outcomes = judge_atgen(executor, items, limits=LIMITS)
        cases = [
            PairCheck(i.task, i.buggy_code, None if o.test is None else Test.from_dict(o.test))
            for i, o in zip(items, outcomes, strict=True)
        ]
        units, _ = attack_units(executor, cases, limits=LIMITS)
    seen = set()
    for item, outcome, unit in zip(items, outcomes, units, strict=True):
        c = outcome.result.components
        paid = (c["io_accuracy"] > 0, c["attack"] > 0, c["valid_input"] > 0, c["input_attack"] > 0)
        counted = (unit.io_accurate, unit.attack, unit.valid_input, unit.input_attack)
        assert paid == counted, item.response[:80]
        assert (c["format"] == c["io_accuracy"] == c["attack"] == -0.5) == (not unit.parsed)
        seen.add((unit.parsed, *counted))
    # the corpus reaches every kind of unit: unparsed, invalid, inaccurate, accurate with and without attack
    assert {(False, False, False, False, False), (True, False, False, False, False)} <= seen
    assert {
        (True, True, True, True, True),
        (True, True, False, True, False),
        (True, False, False, True, True),
    } <= seen


def test_best_of_n_selection_has_one_tie_rule():
    """Selecting among tied candidates is `metrics.bon.select_index` / `select_value` only."""
    selecting = ("core/metrics/", "core/selection.py", "core/training/", "commands/", "core/rewards/")
    found = [
        hit
        for hit in _offenders(r"==\s*(best|max\()|\bmax\(\s*i\s+for\b")
        if hit.startswith(selecting) and not hit.startswith("core/metrics/bon.py")
    ]
    assert found == []


def test_code_extraction_has_one_rule():
    """Loaders cut code out of stored responses by the same rule as the training and metrics."""
    from atest.core.loaders._common import extract_code as stored
    from atest.core.parsing import extract_code

    texts = [
        "Sure:\n```python\nn=int(input())\nprint(n*n)  \n\n```",
        "```py3\nprint(1)\n```\n```\nInput:\n1\nOutput:\n1\n```",
        "<think>```python\nprint(0)\n```</think>\n```Python\r\nprint(2)\r\n```",
        "```python\nprint(3)\n",
    ]
    for text in texts:
        assert stored(text) == extract_code(text)
    assert stored("print(4)\n") == "print(4)\n"  # a plain program is kept as it is
    # parsing's rule, the loaders' wrapper around it, and UTRL's own rule (`--paper utrl`)
    defs = {hit.split(":")[0] for hit in _offenders(r"^def extract_code\(")}
    assert defs == {"core/parsing.py", "core/loaders/_common.py", "core/paper/utrl.py"}


# ---- resumable generation: one failure policy (retried, then reported, never dropped) -----------


class _Flaky:
    """A generator whose prompts named in `fail` fail `times` times, then answer."""

    def __init__(self, fail: set[str], times: int):
        self.left = dict.fromkeys(fail, times)
        self.calls: list[list[str]] = []

    def generate(self, prompts, params):
        names = [p[0]["content"] for p in prompts]
        self.calls.append(names)
        out = []
        for name in names:
            if self.left.get(name, 0) > 0:
                self.left[name] -= 1
                out.append([Completion(f"{name}-a", 1, "stop"), Completion.failed("HTTP 503")])
            else:
                out.append([Completion(f"{name}-a", 1, "stop"), Completion(f"{name}-b", 1, "stop")])
        return out


def _sample(path, tasks, generator):
    from atest.core.training.phases.sampling import sample_resumable

    return sample_resumable(
        path, tasks, generator=generator, params=SamplingParams(n=2, seed=1),
        build_prompt=lambda t: [{"role": "user", "content": t.task_id}],
        to_row=lambda t, texts: {"task_id": t.task_id, "texts": texts},
    )  # fmt: skip


def test_a_failed_unit_is_retried_then_written_whole(tmp_path):
    tasks = [Task(f"t{i}", "q", "stdio", ["print(1)"], []) for i in range(3)]
    flaky = _Flaky({"t1"}, times=1)
    rows = _sample(tmp_path / "rows.jsonl", tasks, flaky)
    assert [r["texts"] for r in rows] == [[f"t{i}-a", f"t{i}-b"] for i in range(3)]
    assert flaky.calls == [["t0"], ["t1"], ["t1"], ["t2"]]  # the retry asks the failed prompt again


def test_a_unit_failing_after_its_retry_is_reported_not_dropped(tmp_path):
    tasks = [Task(f"t{i}", "q", "stdio", ["print(1)"], []) for i in range(3)]
    path = tmp_path / "rows.jsonl"
    with pytest.raises(ExternalError, match="1 task"):
        _sample(path, tasks, _Flaky({"t1"}, times=2))
    assert [json.loads(line)["task_id"] for line in path.read_text().splitlines()] == ["t0", "t2"]
    rows = _sample(path, tasks, _Flaky(set(), times=0))  # a rerun resumes it
    assert [r["task_id"] for r in rows] == ["t0", "t1", "t2"] and rows[1]["texts"] == ["t1-a", "t1-b"]


def test_gen_tests_loop_retries_through_the_same_policy(tmp_path):
    from atest.core import gentests

    tasks = [Task(f"t{i}", "q", "stdio", ["print(1)"], []) for i in range(2)]
    units = [gentests.Unit(t, [{"role": "user", "content": t.task_id}]) for t in tasks]
    stats = gentests.run_units(
        units, _Flaky({"t0"}, times=1), SamplingParams(n=2), tmp_path / "out.jsonl",
        to_row=lambda u, cs: {"task_id": u.task.task_id, "texts": [c.text for c in cs]}, expected={}, batch_size=2,
    )  # fmt: skip
    assert (stats.n_written, stats.n_failed_units) == (2, 0)
    stats = gentests.run_units(
        units, _Flaky({"t0", "t1"}, times=2), SamplingParams(n=2), tmp_path / "out2.jsonl",
        to_row=lambda u, cs: {"task_id": u.task.task_id}, expected={}, batch_size=2,
    )  # fmt: skip
    assert (stats.n_written, stats.n_failed_units, stats.first_error) == (0, 2, "HTTP 503")
