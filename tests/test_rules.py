"""The rules object (atest.core.rules): one set of functions, two rule sets.

Hostile and edge programs whose verdict depends on the rules, each run through the sandbox
under both: the UTRL authors' runner rules (stdin exactly as parsed, their star-import header
and no other names, nothing on stderr, a non-empty output, 10 s) against atest's own.
"""

from __future__ import annotations

import pytest

from atest.core.checking import Test, passes, program_under
from atest.core.errors import InputError
from atest.core.paper import utrl as authors
from atest.core.rewards.utrl import (
    UtrlCodeItem,
    UtrlRewardConfig,
    UtrlTestItem,
    score_utrl_code,
    score_utrl_tests,
)
from atest.core.rules import ATEST, PAPERS, UTRL, rules_named
from atest.core.sandbox import Harness, Job, Limits, Program, get_executor
from atest.core.tasks import Task

SUM = "a, b = map(int, input().split())\nprint(a + b)\n"
TASK = Task("t", "q", "stdio", [SUM], [])


@pytest.fixture(scope="module", params=["local", "subprocess"])
def executor(request):
    with get_executor(workers=2, executor=request.param) as ex:
        yield ex


def _verdicts(executor, code: str, test: Test, limits: Limits | None = None) -> dict[str, bool]:
    """Whether `code` passes `test` under each rule set (each with its own default limits)."""
    out = {}
    for rules in (ATEST, UTRL):
        prog = program_under(rules, TASK, code)
        assert prog is not None
        [execution] = executor.run([Job(prog, test.input, limits or rules.limits)])
        out[rules.name] = passes(execution, test=test, kind="stdio", rules=rules)
    return out


@pytest.mark.parametrize(
    ("code", "test", "atest", "utrl"),
    [
        # stdin exactly as parsed: the authors' runner adds no final newline.
        ("import sys\nprint(sys.stdin.readline()[:-1][::-1])\n", Test("abc", "cba"), True, False),
        ("import sys\nprint(repr(sys.stdin.read()))\n", Test("5", "'5\\n'"), True, False),
        ("import sys\nprint(repr(sys.stdin.read()))\n", Test("5", "'5'"), False, True),
        # the prelude: math's names without an import under both; atest's extra modules
        # (json, os, copy, SortedList) only under atest; the header's star-imports shadow pow.
        ("print(int(sqrt(int(input()))))\n", Test("49", "7"), True, True),
        ("print(json.dumps([int(input())]))\n", Test("3", "[3]"), True, False),
        ("print(pow(2, int(input()), 1000))\n", Test("10", "24"), True, False),
        # the header comes first, so a __future__ import is no longer at the top.
        ("from __future__ import annotations\nprint(int(input()) + 1)\n", Test("1", "2"), True, False),
        # a pass needs an empty stderr and a non-empty output there.
        ("import sys\nprint('dbg', file=sys.stderr)\nprint(int(input()) * 2)\n", Test("4", "8"), True, False),
        ("input()\n", Test("x", ""), True, False),
    ],
)
def test_a_program_whose_verdict_depends_on_the_rules(executor, code, test, atest, utrl):
    assert _verdicts(executor, code, test) == {"atest": atest, "utrl": utrl}


def test_the_time_limit_is_the_authors_10_s_under_utrl(executor):
    """6 s asleep: past atest's default watchdog (2 s of CPU, 5 s of wall clock), within the
    authors' 10 s of wall clock (a wall clock, so a loaded machine can flip their verdicts)."""
    assert UTRL.limits.cpu_seconds == UTRL.limits.wall_limit == 10.0
    assert ATEST.limits.wall_limit == 5.0
    nap = "import time\ntime.sleep(6)\nprint(1)\n"
    assert _verdicts(executor, nap, Test("", "1")) == {"atest": False, "utrl": True}


def test_harness_rules_travel_with_the_program():
    code = "print(1)\n"
    plain, theirs = program_under(ATEST, TASK, code), program_under(UTRL, TASK, code)
    assert plain == Program(code, "stdio") and plain.key == Program(code, "stdio").key  # old keys kept
    assert theirs.harness == Harness(stdin_newline=False, prelude="utrl") and theirs.source == code
    assert theirs.key != plain.key  # never share a cache entry or a batch slot
    assert program_under(UTRL, TASK, "#include <iostream>\nint main() { std::cout << 1; }\n") is None
    assert authors.HEADER.startswith("import random\n") and "from math import *\n" in authors.HEADER


def test_rules_are_looked_up_by_name():
    assert rules_named(None) is ATEST and rules_named("utrl") is UTRL and PAPERS == ("utrl",)
    with pytest.raises(InputError, match="--paper 'cure'"):
        rules_named("cure")


def test_the_configs_weights_are_honoured_under_both_rule_sets(executor):
    fence = "<reasoning>r</reasoning>\n```\nInput:\n1 2\n\nOutput:\n3\n```"
    config = UtrlRewardConfig(format_weight=0.5, discrimination_weight=0.25, validity_weight=0.25, n_tests=1)
    for rules in (ATEST, UTRL):
        [r] = score_utrl_tests(executor, [UtrlTestItem(TASK, fence, ["print(4)\n"])], config, rules=rules)
        assert r.score == pytest.approx(0.5 + 0.25 + 0.25), rules.name  # 1 valid test of 1, caught
        [d] = score_utrl_tests(
            executor, [UtrlTestItem(TASK, fence, ["print(4)\n"])], UtrlRewardConfig(), rules=rules
        )
        assert d.score == pytest.approx(0.1 + 0.85 + 0.05 / 12), rules.name  # the paper's weights by default
    code = "<reasoning>sum</reasoning>\n```python\n" + SUM + "```"
    weights = UtrlRewardConfig(code_pass_weight=0.5, code_format_weight=0.5)
    for rules in (ATEST, UTRL):
        [c] = score_utrl_code(
            executor, [UtrlCodeItem(TASK, code, [{"input": "1 2", "output": "3"}])], weights, rules=rules
        )
        assert c.score == pytest.approx(0.5 * (1 / (1 + rules.pass_rate_epsilon)) + 0.5), rules.name
