"""Prompt templates: what each asks for, and that no text changes without a new template id."""

from __future__ import annotations

import pytest

from atest.core.parsing import code_well_formed, extract_code, parse_tests
from atest.core.prompts import (
    TEMPLATES,
    THINKING_NOTE,
    build_messages,
    render_test,
    template_fingerprint,
    template_id,
)
from atest.core.tasks import Task

# Changing any prompt text changes its fingerprint: bump the template's version and update both here.
PINNED = {
    "utrl-test": ("utrl-test@1", "cd307b78f084d484"),
    "utrl-code": ("utrl-code@1", "f8abff182eb6ee02"),
    "atgen": ("atgen@1", "4c12ce163e0bf410"),
    "cure": ("cure@1", "d51874400b5d722a"),
}

STDIO = Task(
    "t1", "Read two integers a and b and print a + b.", "stdio", ["print(sum(map(int, input().split())))"], []
)
FUNCTIONAL = Task(
    "t2",
    "Return the largest element of nums.",
    "functional",
    ["class Solution:\n    def biggest(self, nums):\n        return max(nums)\n"],
    [],
    fn_name="biggest",
    starter_code="class Solution:\n    def biggest(self, nums: list[int]) -> int:\n        ",
)


def test_the_four_templates_have_pinned_ids_and_texts():
    assert set(TEMPLATES) == set(PINNED)
    for name, (tid, fingerprint) in PINNED.items():
        assert template_id(name) == tid
        assert template_fingerprint(name) == fingerprint, f"{name}: prompt text changed; bump its version"


def test_unknown_template_is_refused_with_the_known_names():
    with pytest.raises(ValueError, match="utrl-test"):
        build_messages("utrl", STDIO)


@pytest.mark.parametrize("name", sorted(PINNED))
@pytest.mark.parametrize("task", [STDIO, FUNCTIONAL], ids=["stdio", "functional"])
def test_messages_are_a_system_and_a_user_turn_holding_the_problem(name, task):
    messages = build_messages(name, task, buggy_code="print(0)")
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    assert task.question in user
    if task.kind == "functional":
        assert "`biggest`" in user and "def biggest" in user
    else:
        assert "standard input" in user


def test_utrl_test_asks_for_the_requested_number_of_tests():
    assert "Write 7 unit tests" in build_messages("utrl-test", STDIO, n_tests=7)[1]["content"]


def test_atgen_shows_the_buggy_code_and_requires_it():
    user = build_messages("atgen", STDIO, buggy_code="print(abs(-1))  # BUG")[1]["content"]
    assert "print(abs(-1))  # BUG" in user
    with pytest.raises(ValueError, match="buggy_code"):
        build_messages("atgen", STDIO)


def test_thinking_adds_a_note_and_no_model_specific_token():
    on = build_messages("utrl-code", STDIO, thinking=True)[1]["content"]
    off = build_messages("utrl-code", STDIO, thinking=False)[1]["content"]
    assert on.endswith(THINKING_NOTE) and on.startswith(off)
    assert "/think" not in on and "/no_think" not in off


@pytest.mark.parametrize("name", ["utrl-test", "atgen", "cure"])
@pytest.mark.parametrize("task", [STDIO, FUNCTIONAL], ids=["stdio", "functional"])
def test_a_response_that_follows_the_prompt_is_well_formed(name, task):
    tpl = TEMPLATES[name]
    test = (
        {"input": "3 4\n", "output": "7\n"} if task.kind == "stdio" else {"input": [[3, 9, 2]], "output": 9}
    )
    response = render_test(test, task.kind, tpl.test_style)
    if tpl.needs_reasoning:
        response = "<reasoning>small numbers first</reasoning>\n" + response
    result = parse_tests(response, task.kind, template=name)
    assert result.tests == [test]
    assert result.well_formed


def test_a_code_response_that_follows_the_prompt_is_well_formed():
    response = "<reasoning>add them</reasoning>\n```python\nprint(sum(map(int, input().split())))\n```"
    assert code_well_formed(response)
    assert extract_code(response) == "print(sum(map(int, input().split())))\n"
