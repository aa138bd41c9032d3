"""Each documented comparison rule of the judge, and the verdict mapping."""

import math

import pytest

from atest.core.sandbox import Execution, Limits, Status, Verdict, judge, limits_from_gold, outputs_match


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        ("1 2 3\n", "1 2 3"),  # final newline
        ("1 2 3", "1   2\t3   \n\n"),  # spacing between tokens, trailing blanks
        ("a\nb\n", "a b"),  # token-wise: line breaks are whitespace too
        ("0.5", "0.5000001"),  # floats within 1e-6
        ("1e-9", "0"),  # absolute tolerance near zero
        ("2.0", "2"),  # a float token against an integer token
        ("YES", "YES"),
        ("", "\n"),
    ],
)
def test_stdio_matches(expected, actual):
    assert outputs_match("stdio", expected, actual)


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        ("YES", "yes"),  # case matters
        ("1 2", "2 1"),  # order matters (not a bag of tokens)
        ("1000000", "1000001"),  # integers are exact, whatever the tolerance
        ("0.5", "0.51"),
        ("1 2", "1 2 3"),
        ("abc", "ab c"),
        ("nan", "0"),
        ("1", ""),
    ],
)
def test_stdio_mismatches(expected, actual):
    assert not outputs_match("stdio", expected, actual)


@pytest.mark.parametrize(
    ("expected", "actual", "same", "rule"),
    [
        ("007", "7", False, "integer tokens are exact text: leading zeros count"),
        ("5", "+5", False, "integer tokens are exact text: a plus sign counts"),
        ("0", "-0", False, "integer tokens are exact text: negative zero is not zero"),
        ("12345678901234567890", "12345678901234567891", False, "big integers exact, no float rounding"),
        ("1000", "1e3", True, "an exponent makes a float token, read by value"),
        ("1", "1.0", True, "a float token against an integer token, by value"),
        ("0.5", ".5", True, "a float without leading digit"),
        ("5", "5.", True, "a float without fraction digits"),
        ("1e3", "1001", False, "by value, but outside the tolerance"),
        ("nan", "nan", True, "nan is text: equal text matches"),
        ("nan", "NaN", False, "nan is text: case matters"),
        ("inf", "1e999", False, "inf is text, not the overflowed float"),
        ("1e999", "1e400", True, "two floats overflowing to the same infinity"),
        ("1e999", "-1e999", False, "infinities of opposite sign"),
    ],
)
def test_stdio_numeric_rules(expected, actual, same, rule):
    assert outputs_match("stdio", expected, actual) is same, rule
    assert outputs_match("stdio", actual, expected) is same, rule + " (symmetric)"


def test_stdio_tolerance_is_configurable():
    assert not outputs_match("stdio", "0.5", "0.5001")
    assert outputs_match("stdio", "0.5", "0.5001", tolerance=1e-3)


@pytest.mark.parametrize(
    ("expected", "actual", "same"),
    [
        ([1, 2], (1, 2), True),
        ([[1, 2], [3]], [[1, 2], [3]], True),
        (0.1 + 0.2, 0.3, True),
        (2, 2.0, True),
        (True, 1, False),
        (False, False, True),
        ({"a": 1}, {"a": 1.0000000001}, True),
        ({"a": 1}, {"b": 1}, False),
        ("1", 1, False),
        ([1, 2], [2, 1], False),
        (None, None, True),
        (None, [], False),
        (math.inf, math.inf, True),
    ],
)
def test_functional_json_rules(expected, actual, same):
    assert outputs_match("functional", expected, actual) is same


def test_stdio_requires_text():
    assert not outputs_match("stdio", "1", None)
    assert not outputs_match("stdio", "1", 1)


def test_judge_maps_status_and_compares():
    ok = Execution(Status.OK, "42\n")
    assert judge(ok, "42", "stdio") is Verdict.ACCEPTED
    assert judge(ok, "41", "stdio") is Verdict.WRONG_ANSWER
    for status, verdict in [
        (Status.RUNTIME_ERROR, Verdict.RUNTIME_ERROR),
        (Status.TIME_LIMIT, Verdict.TIME_LIMIT),
        (Status.MEMORY_LIMIT, Verdict.MEMORY_LIMIT),
        (Status.OUTPUT_LIMIT, Verdict.OUTPUT_LIMIT),
    ]:
        assert judge(Execution(status, None), "42", "stdio") is verdict


def test_limits_scale_from_gold_time_with_a_floor():
    base = Limits(cpu_seconds=2, memory_mb=512, output_bytes=1000)
    assert limits_from_gold(0.01, base=base).cpu_seconds == 1.0
    scaled = limits_from_gold(0.5, base=base, factor=4)
    assert scaled.cpu_seconds == 2.0 and scaled.memory_mb == 512 and scaled.output_bytes == 1000
    assert limits_from_gold(0.01, base=base, floor=0.25).cpu_seconds == 0.25
