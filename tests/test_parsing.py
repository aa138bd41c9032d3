"""The response parsers: lenient layouts, exact values, reasons for every drop, no crash, linear time."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atest.core.parsing import (
    DUPLICATE,
    INCOMPLETE,
    OVER_CAP,
    UNPARSEABLE,
    code_well_formed,
    extract_code,
    parse_arguments,
    parse_tests,
)
from atest.core.prompts import TEMPLATES, render_test

PRIMED = (
    "<reasoning>negative first number</reasoning>\n```\nInput:\n-1 2\n\nOutput:\n1\n```\n"
    "```python\na, b = map(int, input().split())\nprint(a + b)\n```\n"
)


def reasoned(*tests: str) -> str:
    return "".join(f"<reasoning>why {i}</reasoning>\n{t}\n" for i, t in enumerate(tests))


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_the_shared_training_response_parses_under_every_template(template):
    result = parse_tests(PRIMED, "stdio", template=template)
    assert result.tests == [{"input": "-1 2\n", "output": "1\n"}]
    assert result.dropped == []
    assert result.well_formed


def test_extract_code_of_the_shared_response():
    assert extract_code(PRIMED) == "a, b = map(int, input().split())\nprint(a + b)\n"
    assert code_well_formed(PRIMED)


@pytest.mark.parametrize(
    "text",
    [
        "<reasoning>r</reasoning>\nInput: 5\nOutput: 25\n",  # same line, no fence
        "<reasoning>r</reasoning>\n```\nInput: 5\nOutput:\n25\n```",  # mixed
        "<reasoning>r</reasoning>\r\n```\r\nInput:\r\n5\r\n\r\nOutput:\r\n25\r\n```\r\n",  # CRLF
        "<reasoning>r</reasoning>\n**Test Input:**\n```\n5\n```\n**Test Output:**\n```\n25\n```",  # CURE
        "<reasoning>r</reasoning>\n**Input**:\n```\n5\n```\n\n**Output**:\n```\n25\n```",
        "<reasoning>r</reasoning>\n```text\nInput:\n5\n```\n```\nOutput:\n25\n```",  # split fences
        "<REASONING>r</REASONING>\n### Input:\n5\n\n### Output:\n\n25\n\nThat is all.",  # unfenced prose after
        "<reasoning>r</reasoning>\nInput (stdin):\n```\n5\n```\nExpected Output (stdout):\n```\n25\n```",
    ],
)
def test_lenient_layouts_give_the_same_test(text):
    result = parse_tests(text, "stdio", template="utrl-test")
    assert result.tests == [{"input": "5\n", "output": "25\n"}]
    assert result.well_formed, result


def test_missing_final_fence_still_parses_but_is_not_well_formed():
    result = parse_tests(
        "<reasoning>r</reasoning>\n```\nInput:\n5\n\nOutput:\n25\n", "stdio", template="utrl-test"
    )
    assert result.tests == [{"input": "5\n", "output": "25\n"}]
    assert not result.well_formed


def test_stdio_input_is_verbatim_except_the_separator_line():
    text = reasoned("```\nInput:\n\n  3 \n1  2\t\n\n\n\nOutput:\n  6\n```")
    test = parse_tests(text, "stdio", template="utrl-test").tests[0]
    assert test["input"] == "\n  3 \n1  2\t\n\n\n"
    assert test["output"] == "  6\n"


def test_colons_and_words_inside_values_are_kept():
    text = reasoned("```\nInput:\nkey: value\nthe input: here\n\nOutput:\nanswer: 1\n```")
    assert parse_tests(text, "stdio", template="utrl-test").tests == [
        {"input": "key: value\nthe input: here\n", "output": "answer: 1\n"}
    ]


def test_tests_inside_reasoning_or_thinking_are_ignored():
    hidden = "```\nInput:\n1\n\nOutput:\n2\n```"
    text = f"<think>{hidden}</think>\n<reasoning>draft:\n{hidden}\n</reasoning>\nno test here"
    result = parse_tests(text, "stdio", template="utrl-test")
    assert result.tests == []
    assert not result.well_formed


def test_qwen3_stray_closing_think_hides_everything_before_it():
    text = "```\nInput:\n1\n\nOutput:\n2\n```\n</think>\n" + reasoned("```\nInput:\n3\n\nOutput:\n4\n```")
    assert parse_tests(text, "stdio", template="utrl-test").tests == [{"input": "3\n", "output": "4\n"}]


def test_unclosed_reasoning_swallows_the_rest():
    text = "<reasoning>thinking about it\n```\nInput:\n1\n\nOutput:\n2\n```"
    result = parse_tests(text, "stdio", template="utrl-test")
    assert result.tests == [] and not result.well_formed


def test_markers_inside_python_code_are_not_tests():
    text = reasoned("```python\n# Input: n\nn = int(input())\n# Output: n squared\nprint(n * n)\n```")
    assert parse_tests(text, "stdio", template="utrl-test").tests == []


@pytest.mark.parametrize("label", ["bash", "yaml", "cpp", "shell", "in", "sh", "c++", "Text", "plaintext"])
def test_a_fence_label_other_than_python_still_holds_tests(label):
    text = reasoned(f"```{label}\nInput:\n1 2\n\nOutput:\n3\n```")
    result = parse_tests(text, "stdio", template="utrl-test")
    assert result.tests == [{"input": "1 2\n", "output": "3\n"}]
    assert result.dropped == [] and result.well_formed


def test_a_test_without_its_own_reasoning_breaks_the_format_but_still_counts():
    block = "```\nInput:\n{}\n\nOutput:\n{}\n```\n"
    text = "<reasoning>a</reasoning>\n" + block.format(1, 1) + block.format(2, 4)
    result = parse_tests(text, "stdio", template="utrl-test")
    assert [t["input"] for t in result.tests] == ["1\n", "2\n"]
    assert not result.well_formed
    assert parse_tests(text, "stdio", template="cure", max_tests=5).tests == result.tests


def test_drop_reasons_are_reported():
    text = reasoned(
        "```\nInput:\n1\n\nOutput:\n1\n```",
        "```\nInput:\n1\n\nOutput:\n2\n```",  # same input again
        "```\nInput:\n7\n```",  # no output
        "```\nInput:\n2\n\nOutput:\n4\n```",
        "```\nInput:\n3\n\nOutput:\n9\n```",
    )
    result = parse_tests(text, "stdio", template="utrl-test", max_tests=2)
    assert result.tests == [{"input": "1\n", "output": "1\n"}, {"input": "2\n", "output": "4\n"}]
    assert [r for r, _ in result.dropped] == [DUPLICATE, INCOMPLETE, OVER_CAP]
    assert "7" in result.dropped[1][1]
    assert not result.well_formed  # the incomplete block


def test_atgen_takes_one_test_and_wants_exactly_one():
    two = reasoned("```\nInput:\n1\n\nOutput:\n1\n```", "```\nInput:\n2\n\nOutput:\n4\n```")
    result = parse_tests(two, "stdio", template="atgen")
    assert result.tests == [{"input": "1\n", "output": "1\n"}]
    assert result.dropped[0][0] == OVER_CAP
    assert not result.well_formed


def test_functional_values_json_and_python_literals():
    text = reasoned(
        "```\nInput:\n[[1, 2, 3], 4]\n\nOutput:\ntrue\n```",
        "```\nInput:\n([1, 2], 'a')\n\nOutput:\n(0, None, False)\n```",
        "```\nInput:\nnums = [2, 7], target = 9\n\nOutput:\n[0, 1]\n```",
        '```\nInput:\n5\n\nOutput:\n"five"\n```',
        '```\nInput:\n{"n": 3}\n\nOutput:\n3.5\n```',
    )
    result = parse_tests(text, "functional", template="utrl-test")
    assert result.tests == [
        {"input": [[1, 2, 3], 4], "output": True},
        {"input": [[1, 2], "a"], "output": [0, None, False]},
        {"input": {"nums": [2, 7], "target": 9}, "output": [0, 1]},
        {"input": [5], "output": "five"},
        {"input": {"n": 3}, "output": 3.5},
    ]
    assert result.well_formed


@pytest.mark.parametrize(
    "inp, out",
    [
        ("__import__('os').system('true')", "1"),  # never evaluated
        ("{1, 2}", "1"),  # a set is not JSON data
        ("[1, 2]", "float('nan')"),
        ("[1e999]", "1"),  # infinity
        ("f(1, x=2)", "1"),  # mixed positional and keyword
        ("[" * 5000, "1"),  # deep nesting
        ("[1]", "banana"),
    ],
)
def test_functional_values_that_are_not_json_data_are_dropped(inp, out):
    result = parse_tests(
        reasoned(f"```\nInput:\n{inp}\n\nOutput:\n{out}\n```"), "functional", template="utrl-test"
    )
    assert result.tests == []
    assert result.dropped[0][0] == UNPARSEABLE
    assert not result.well_formed


def test_parse_arguments_forms():
    assert parse_arguments("[1, 2]") == [1, 2]
    assert parse_arguments("1, 2") == [1, 2]
    assert parse_arguments("x=1") == {"x": 1}
    assert parse_arguments("'s'") == ["s"]
    assert parse_arguments("") is None


def test_extract_code_takes_the_last_python_block_and_tolerates_a_missing_fence():
    text = "```python\nprint(1)\n```\nbetter:\n```python\nprint(2)\n"
    assert extract_code(text) == "print(2)\n"
    assert not code_well_formed("<reasoning>r</reasoning>\n" + text)


def test_extract_code_ignores_drafts_in_think_and_test_blocks():
    assert extract_code("<think>```python\nprint(0)\n```</think>\n```python\nprint(1)\n```") == "print(1)\n"
    assert extract_code("<think>```python\nprint(0)\n```") is None  # cut off while thinking
    assert extract_code("```\nprint(3)\n```\n```\nInput:\n1\nOutput:\n1\n```") == "print(3)\n"
    assert extract_code("no code at all") is None
    assert extract_code("```python\n\n```") is None


def test_code_format_needs_reasoning_before_the_code():
    assert code_well_formed("<think>plan</think>\n```python\nprint(1)\n```")
    assert not code_well_formed("```python\nprint(1)\n```\n<reasoning>after</reasoning>")
    assert not code_well_formed("<reasoning> </reasoning>\n```python\nprint(1)\n```")


# ---- properties -------------------------------------------------------------------------

# Lines free of the characters that make structure: fences, tags, the colon of a marker, CR.
_SAFE_LINE = st.text(
    alphabet=st.characters(blacklist_characters="`~<:\r\n", blacklist_categories=("Cs",)), max_size=12
)
_STDIO_VALUE = st.lists(_SAFE_LINE, min_size=1, max_size=6).map("\n".join)


def _canonical_input(value: str) -> str:
    return value if value.endswith("\n") else value + "\n"


def _canonical_output(value: str) -> str:
    lines = value.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines) + "\n" if lines else ""


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(_STDIO_VALUE, _STDIO_VALUE),
        min_size=1,
        max_size=8,
        unique_by=lambda t: _canonical_input(t[0]),
    ),
    st.sampled_from(["block", "cure"]),
)
def test_stdio_tests_round_trip(tests, style):
    text = "".join(
        f"<reasoning>test {i}</reasoning>\n" + render_test({"input": a, "output": b}, "stdio", style) + "\n"
        for i, (a, b) in enumerate(tests)
    )
    result = parse_tests(text, "stdio", template="utrl-test")
    assert result.tests == [{"input": _canonical_input(a), "output": _canonical_output(b)} for a, b in tests]
    assert result.dropped == []
    assert result.well_formed


_JSON_TEXT = st.text(
    alphabet=st.characters(blacklist_characters="<", blacklist_categories=("Cs",)), max_size=8
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | _JSON_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_JSON_TEXT, inner, max_size=3),
    max_leaves=8,
)
_ARGS = st.lists(_JSON, max_size=4) | st.dictionaries(_JSON_TEXT, _JSON, max_size=3)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(_ARGS, _JSON), min_size=1, max_size=6, unique_by=lambda t: json.dumps(t[0], sort_keys=True)
    )
)
def test_functional_tests_round_trip(tests):
    text = "".join(
        f"<reasoning>r</reasoning>\n{render_test({'input': a, 'output': b}, 'functional')}\n"
        for a, b in tests
    )
    result = parse_tests(text, "functional", template="utrl-test")
    assert result.tests == [{"input": a, "output": b} for a, b in tests]
    assert result.well_formed


_SOUP = st.lists(
    st.sampled_from(
        ["Input:", "Output:", "```", "```python", "~~~", "<reasoning>", "</reasoning>", "<think>", "</think>",
         "**Test Input:**", "\n", "\r\n", " ", "1 2", "[1, (2,", "{'a':", "x=", ")", "]", "\\", '"']
    )
    | st.text(max_size=5),
    max_size=60,
).map("".join)  # fmt: skip


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(st.text(), _SOUP), st.sampled_from(["stdio", "functional"]), st.sampled_from(sorted(TEMPLATES))
)
def test_parsers_never_raise(text, kind, template):
    result = parse_tests(text, kind, template=template)
    assert all(set(t) == {"input", "output"} for t in result.tests)
    code = extract_code(text)
    assert code is None or code.strip()
    code_well_formed(text)


_HOSTILE = {
    "markers": "Input:\n" * 150_000,
    "blank lines": "Input:\n" + "\n" * 1_000_000,
    "stray tags": "</think>" * 120_000,
    "open tags": "<reasoning>" * 90_000,
    "stars": "*" * 1_000_000 + "Input:",
    "backticks": "`" * 1_000_000,
    "fences": "```\n" * 250_000,
    "brackets": "<reasoning>r</reasoning>\n```\nInput:\n" + "[" * 1_000_000 + "\n\nOutput:\n1\n```",
    "tests": "Input:\n1\nOutput:\n2\n" * 60_000,
}


@pytest.mark.parametrize("name", sorted(_HOSTILE))
def test_a_megabyte_of_hostile_text_parses_in_linear_time(name):
    text = _HOSTILE[name]
    start = time.perf_counter()
    for kind in ("stdio", "functional"):
        parse_tests(text, kind, template="utrl-test")
    extract_code(text)
    code_well_formed(text)
    assert time.perf_counter() - start < 8.0, name
