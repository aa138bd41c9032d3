"""The rewards, on real programs through the real sandbox.

Expected numbers are worked out by hand in each test, from the formulas in docs/rewards.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from atest.core.errors import InputError
from atest.core.rewards import (
    MAX_INPUT_CHARS,
    AtgenItem,
    UtrlCodeItem,
    UtrlRewardConfig,
    UtrlTestItem,
    score_atgen,
    score_utrl_code,
    score_utrl_tests,
)
from atest.core.sandbox import Execution, Job, Limits, get_executor
from atest.core.tasks import Task

LIMITS = Limits(cpu_seconds=0.5, wall_seconds=3.0)

GOLD = "a, b = map(int, input().split())\nprint(a + b)\n"
SUM = Task(
    "sum",
    "Read two integers a and b (|a|, |b| <= 1000) and print a + b.",
    "stdio",
    [GOLD],
    [{"input": "1 2\n", "output": "3\n"}, {"input": "3 4\n", "output": "7\n"}],
)
READ = "a, b = map(int, input().split())\n"
OPPONENTS = {
    "gold copy": GOLD,
    "abs": READ + "print(abs(a) + b)\n",  # wrong for negative a
    "crash": READ + "print(a + b if a >= 0 else [][0])\n",  # crashes for negative a
    "slow": READ + "while a > 100:\n    pass\nprint(a + b)\n",  # never ends for a > 100
    "sub": READ + "print(a - b)\n",
    "off": READ + "print(a + b + (a > 100))\n",  # off by one for a > 100
    "mul": READ + "print(a * b)\n",
    "alt": READ + "print(max(a, b) + min(a, b))\n",  # correct, written differently
}

COUNT = Task(
    "count",
    "Read n (1 <= n <= 10^5) and print 0 + 1 + ... + (n - 1).",
    "stdio",
    ["n = int(input())\ns = 0\nfor i in range(n):\n    s += i\nprint(s)\n"],
    [{"input": "4\n", "output": "6\n"}],
)

BIGGEST = Task(
    "biggest",
    "Return the largest element of nums.",
    "functional",
    ["class Solution:\n    def biggest(self, nums):\n        return max(nums)\n"],
    [{"input": [[1, 5, 2]], "output": 5}],
    fn_name="biggest",
)


class CountingExecutor:
    """The real executor, counting calls and jobs so the tests can check the batching."""

    def __init__(self, inner):
        self.inner = inner
        self.calls: list[int] = []

    def run(self, jobs: Sequence[Job]) -> list[Execution]:
        self.calls.append(len(jobs))
        return self.inner.run(jobs)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture(scope="module")
def real_executor():
    with get_executor(workers=2) as ex:
        yield ex


@pytest.fixture
def executor(real_executor):
    return CountingExecutor(real_executor)


def block(inp: str, out: str, why: str = "because") -> str:
    return f"<reasoning>{why}</reasoning>\n```\nInput:\n{inp}\n\nOutput:\n{out}\n```\n"


def utrl(
    executor, response: str, opponents=None, task=SUM, exclude=False, config=None, **settings
) -> tuple[float, dict[str, float]]:
    opps = list(OPPONENTS.values()) if opponents is None else opponents
    [result] = score_utrl_tests(
        executor,
        [UtrlTestItem(task, response, opps)],
        config or UtrlRewardConfig(**settings),
        limits=LIMITS,
        exclude_correct_opponents=exclude,
    )
    return result.score, result.components


# ---- UTRL test generator: reference compatibility ---------------------------------------

RESPONSE = (
    block("1 2", "3")  # valid; fails sub (-1) and mul (2)
    + block("-1 2", "1")  # valid; fails abs (3) and crash (crashes)
    + block("5 5", "11")  # invalid: gold prints 10
    + block("1 2", "3")  # duplicate input: dropped
    + block("200 1", "201")  # valid; fails off (202) and slow (time limit)
)


def test_utrl_reward_matches_the_formula_by_hand(executor):
    score, c = utrl(executor, RESPONSE)
    # unique tests 4, valid 3; detected: abs, crash, slow, sub, off, mul = 6 of 8 (gold copy and alt pass)
    assert (c["n_tests"], c["n_valid"], c["detected"], c["opponents"]) == (4, 3, 6, 8)
    assert c["format"] == 1.0
    assert c["discrimination"] == pytest.approx(6 / 8)
    assert c["validity"] == pytest.approx(3 / 12)  # denominator max(12, 4)
    assert score == pytest.approx(0.1 * 1 + 0.85 * 0.75 + 0.05 * 0.25)  # = 0.75
    # gold on the 4 distinct inputs; then the 8 opponents on the first valid test ("1 2": sub
    # and mul fail); then the 6 others on the next two valid tests, which decide every one
    assert executor.calls == [4, 8, 6 * 2]


def test_utrl_reward_where_we_differ_from_the_reference_code(executor):
    # The reference counted a crashing candidate as passing: it would find 5 of 8, scoring
    # 0.1 + 0.85 * 5/8 + 0.05 * 3/12 = 0.64375. We count the crash as caught (0.75, above).
    score, c = utrl(executor, RESPONSE)
    assert c["detected"] == 6
    assert score != pytest.approx(0.1 + 0.85 * 5 / 8 + 0.05 * 3 / 12)
    # Zero parsed tests: the reference still paid the format term (0.1); we pay nothing.
    score, c = utrl(executor, "<reasoning>I will write tests later.</reasoning>\n")
    assert score == 0.0 and c["n_tests"] == 0 and c["format"] == 0.0


def test_validity_is_clipped_at_n_tests(executor):
    thirteen = "".join(block(f"{i} {i}", str(2 * i)) for i in range(13))
    _, c = utrl(executor, thirteen)
    assert (c["n_tests"], c["n_valid"], c["validity"]) == (13, 13, 1.0)  # 13 / max(12, 13)
    _, c = utrl(executor, thirteen, n_tests=20)
    assert c["validity"] == pytest.approx(13 / 20)


def test_the_training_configs_utrl_section_is_the_reward_config(executor):
    from atest.core.training.config import load_config

    section = load_config("utrl", overrides=["utrl.n_tests=20", "utrl.validity_weight=0.5"]).utrl
    thirteen = "".join(block(f"{i} {i}", str(2 * i)) for i in range(13))
    score, c = utrl(executor, thirteen, opponents=[], config=section)
    assert c["validity"] == pytest.approx(13 / 20)
    assert score == pytest.approx(0.1 + 0.5 * 13 / 20)


def test_exclude_correct_opponents_drops_those_passing_every_gold_test(executor):
    score, c = utrl(executor, RESPONSE, exclude=True)
    # Gold tests 1 2 -> 3 and 3 4 -> 7: gold copy, alt, abs, crash, slow and off pass both
    # (their bugs need a < 0 or a > 100), so 6 are left out; sub and mul remain, both caught.
    assert (c["opponents"], c["opponents_excluded"], c["detected"]) == (2, 6, 2)
    assert score == pytest.approx(0.1 + 0.85 * 1.0 + 0.05 * 3 / 12)


def test_weights_are_configurable(executor):
    score, _ = utrl(executor, RESPONSE, format_weight=0.0, discrimination_weight=1.0, validity_weight=0.0)
    assert score == pytest.approx(0.75)


def test_no_opponents_leaves_format_and_validity(executor):
    score, c = utrl(executor, RESPONSE, opponents=[])
    assert c["discrimination"] == 0.0
    assert score == pytest.approx(0.1 + 0.05 * 3 / 12)


def test_functional_task(executor):
    response = block("[[3, 9, 2]]", "9") + block("[[-5, -7]]", "-5") + block("[[1]]", "2")
    opponents = [
        "class Solution:\n    def biggest(self, nums):\n        return nums[0]\n",  # fails [3, 9, 2]
        "def biggest(nums):\n    return sorted(nums)[-1]\n",  # correct, top-level function
        "class Solution:\n    def biggest(self, nums):\n        return max(max(nums), 0)\n",  # fails negatives
    ]
    score, c = utrl(executor, response, opponents=opponents, task=BIGGEST)
    assert (c["n_tests"], c["n_valid"], c["detected"]) == (3, 2, 2)
    assert score == pytest.approx(0.1 + 0.85 * 2 / 3 + 0.05 * 2 / 12)


def test_a_task_without_gold_is_an_input_error(executor):
    no_gold = Task("x", "?", "stdio", [], [])
    with pytest.raises(InputError, match="no gold solution"):
        score_utrl_tests(executor, [UtrlTestItem(no_gold, RESPONSE, [])], UtrlRewardConfig())


def test_a_whole_batch_runs_each_pair_once_and_opponents_stop_at_a_failure(executor):
    group = [UtrlTestItem(SUM, RESPONSE, list(OPPONENTS.values())) for _ in range(8)]
    results = score_utrl_tests(executor, group, UtrlRewardConfig(), limits=LIMITS)
    assert [r.score for r in results] == [pytest.approx(0.75)] * 8
    # 8 identical responses cost what one does (see the test above): gold on 4 inputs, then
    # rounds of 1 and 2 valid tests per opponent still undetected; a single call running
    # every opponent on every input would have been 4 x 8 = 32 jobs
    assert executor.calls == [4, 8, 12]


# ---- UTRL test generator: reward hacking ------------------------------------------------


def test_hack_no_tests(executor):
    score, c = utrl(executor, "<reasoning>nothing to test</reasoning>\n```\nno tests\n```\n")
    assert score == 0.0 and c["n_tests"] == 0  # stopped by the zero-tests rule


def test_hack_one_trivial_test_repeated_50_times(executor):
    score, c = utrl(executor, block("0 0", "0") * 50)
    # duplicates are dropped (1 test) and the clip divides by 12; every opponent prints 0 for
    # "0 0", so nobody is caught
    assert (c["n_tests"], c["n_valid"], c["detected"]) == (1, 1, 0)
    assert c["validity"] == pytest.approx(1 / 12)
    assert score == pytest.approx(0.1 + 0.05 / 12)


def test_hack_twelve_tests_with_wrong_outputs(executor):
    score, c = utrl(executor, "".join(block(f"{i} 1", str(i)) for i in range(12)))
    # gold disagrees with every output: nothing is valid, so nothing can discriminate
    assert (c["n_tests"], c["n_valid"], c["discrimination"], c["validity"]) == (12, 0, 0.0, 0.0)
    assert score == pytest.approx(0.1)


def test_hack_inputs_that_crash_gold(executor):
    # Outside the constraints: gold crashes, so do most opponents; the test would "catch" them
    score, c = utrl(executor, block("one two", "") + block("", ""))
    assert (c["n_valid"], c["discrimination"]) == (0, 0.0)  # stopped by validity (gold must run)
    assert score == pytest.approx(0.1)


def test_hack_ten_megabyte_input(executor):
    huge = "1 " + "0" * (10 * 1024 * 1024)
    score, c = utrl(executor, block(huge, "1"))
    assert c["n_valid"] == 0 and score == pytest.approx(0.1)  # over MAX_INPUT_CHARS: invalid, never run
    assert MAX_INPUT_CHARS < 10 * 1024 * 1024
    assert executor.calls == []


def test_hack_tests_that_time_everyone_out(executor):
    opponents = [
        "n = int(input())\nprint(sum(range(n)) + (n == 7))\n",
        "n = int(input())\ns = 0\ni = 0\nwhile i < n:\n    s += i\n    i += 1\nprint(s)\n",
    ]
    score, c = utrl(
        executor, block("1000000000000", "499999999999500000000000"), opponents=opponents, task=COUNT
    )
    # gold itself runs out of time: the test is invalid, the opponents' time-outs count for nothing
    assert (c["n_valid"], c["detected"]) == (0, 0)
    assert score == pytest.approx(0.1)


def test_hack_test_hidden_in_the_reasoning(executor):
    response = "<reasoning>A good test would be:\n```\nInput:\n-1 2\n\nOutput:\n1\n```\n</reasoning>\nDone."
    score, c = utrl(executor, response)
    assert score == 0.0 and c["n_tests"] == 0  # the parser never reads tests inside reasoning


# ---- UTRL code generator ----------------------------------------------------------------

CODE_RESPONSE = "<reasoning>add</reasoning>\n```python\n{}```\n"


def utrl_code(executor, response: str, tests, task=SUM) -> tuple[float, dict[str, float]]:
    [r] = score_utrl_code(executor, [UtrlCodeItem(task, response, tests)], UtrlRewardConfig(), limits=LIMITS)
    return r.score, r.components


TESTS = [
    {"input": "1 2\n", "output": "3\n"},
    {"input": "-1 2\n", "output": "1\n"},
    {"input": "5 5\n", "output": "11\n"},  # invalid: gold prints 10, never counted
    {"input": "-4 -4\n", "output": "-8\n"},
]


def test_code_reward_is_pass_rate_on_valid_tests_plus_format(executor):
    score, c = utrl_code(executor, CODE_RESPONSE.format(OPPONENTS["abs"]), TESTS)
    # valid tests 3; abs passes 1 2 only: 1/3
    assert (c["n_valid"], c["pass_rate"], c["format"]) == (3, pytest.approx(1 / 3), 1.0)
    assert score == pytest.approx(0.9 / 3 + 0.1)
    score, c = utrl_code(executor, CODE_RESPONSE.format(OPPONENTS["crash"]), TESTS)
    assert c["pass_rate"] == pytest.approx(1 / 3)  # crashes count as failures


def test_code_reward_without_valid_tests_is_format_only(executor):
    score, c = utrl_code(executor, CODE_RESPONSE.format(GOLD), [TESTS[2]])
    assert (c["n_valid"], score) == (0, pytest.approx(0.1))


def test_code_reward_without_code_or_reasoning(executor):
    score, c = utrl_code(executor, "I think the answer is a + b.", TESTS)
    assert (c["has_code"], c["pass_rate"], score) == (0.0, 0.0, 0.0)
    score, c = utrl_code(executor, f"```python\n{GOLD}```\n", TESTS)  # no reasoning: no format point
    assert (c["format"], score) == (0.0, pytest.approx(0.9))


def test_code_reward_batch_is_one_call(executor):
    items = [UtrlCodeItem(SUM, CODE_RESPONSE.format(code), TESTS) for code in OPPONENTS.values()]
    results = score_utrl_code(executor, items, UtrlRewardConfig(), limits=LIMITS)
    assert len(results) == 8 and len(executor.calls) == 1
    assert results[0].score == pytest.approx(1.0)  # the gold copy


# ---- ATGEN ------------------------------------------------------------------------------

BUGGY = OPPONENTS["abs"]


def atgen(executor, response: str, buggy: str = BUGGY, task=SUM) -> tuple[float, dict[str, float]]:
    [r] = score_atgen(executor, [AtgenItem(task, response, buggy)], limits=LIMITS)
    return r.score, r.components


def test_atgen_accurate_attacking_test(executor):
    score, c = atgen(executor, block("-1 2", "1"))
    assert (c["format"], c["io_accuracy"], c["attack"], c["input_attack"]) == (1.0, 1.0, 1.0, 1.0)
    assert score == 3.0


def test_atgen_accurate_test_that_misses_the_bug(executor):
    score, c = atgen(executor, block("1 2", "3"))
    assert (c["io_accuracy"], c["attack"], c["input_attack"], score) == (1.0, 0.0, 0.0, 2.0)


def test_atgen_wrong_output_gets_no_attack_even_if_the_buggy_code_disagrees(executor):
    # y = 3 is what the buggy code prints; gold prints 1. The input attacks, the test does not.
    score, c = atgen(executor, block("-1 2", "3"))
    assert (c["io_accuracy"], c["attack"], c["input_attack"], score) == (0.0, 0.0, 1.0, 1.0)


def test_atgen_invalid_input(executor):
    score, c = atgen(executor, block("x y", ""))
    assert (c["valid_input"], c["io_accuracy"], c["attack"], score) == (0.0, -0.5, 0.0, 0.5)


def test_atgen_no_test_and_broken_format(executor):
    score, c = atgen(executor, "The bug is abs.")
    assert (c["format"], c["io_accuracy"], c["attack"], score) == (-0.5, -0.5, -0.5, -1.5)
    score, c = atgen(executor, "```\nInput:\n-1 2\n\nOutput:\n1\n```")  # no reasoning
    assert (c["format"], c["io_accuracy"], c["attack"], score) == (-0.5, 1.0, 1.0, 1.5)


def test_atgen_buggy_time_out_is_an_attack(executor):
    score, c = atgen(executor, block("200 1", "201"), buggy=OPPONENTS["slow"])
    assert (c["attack"], score) == (1.0, 3.0)


def test_atgen_functional(executor):
    buggy = "class Solution:\n    def biggest(self, nums):\n        return nums[0]\n"
    score, c = atgen(executor, block("[[1, 4]]", "4"), buggy=buggy, task=BIGGEST)
    assert (c["io_accuracy"], c["attack"], score) == (1.0, 1.0, 3.0)


def test_atgen_batch_runs_gold_once_per_input(executor):
    items = [AtgenItem(SUM, block("-1 2", "1"), BUGGY) for _ in range(6)]
    items.append(AtgenItem(SUM, block("7 7", "14"), BUGGY))
    results = score_atgen(executor, items, limits=LIMITS)
    assert [r.score for r in results] == [3.0] * 6 + [2.0]
    assert executor.calls == [4]  # 2 inputs x (gold, buggy)
