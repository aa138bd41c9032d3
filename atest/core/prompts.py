"""Prompt templates: the chat messages each role is trained and evaluated on.

Four templates, written in our own words after the papers' formats:
- `utrl-test`: many tests per response, each a `<reasoning>` block then a fenced block with
  `Input:` and `Output:` (UTRL's test generator).
- `utrl-code`: reasoning then one ```python block (UTRL's code generator, also the adversary's
  prompt in ATGEN).
- `atgen`: problem plus buggy code in, exactly one test out, same test format as `utrl-test`.
- `cure`: one test as `**Test Input:**` / `**Test Output:**` fenced blocks (a baseline).

Every template carries a version, and `template_id` ("utrl-test@1") is recorded with every
output, so results written with different prompt texts are never mixed up. The text of each
template is pinned by a fingerprint in tests/test_prompts.py: changing any text without bumping
the version fails that test.

Thinking: the on/off switch itself is Qwen3's `enable_thinking` chat-template argument, which
the generation backends and the trainer pass to templates that read it. The messages stay free
of model-specific tokens (no `/think` soft switch), so they suit any chat model; with
`thinking=True` they add one sentence saying that only the answer after the thinking is read,
and the parsers ignore everything inside `<think>`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from atest.core.tasks import Task


@dataclass(frozen=True)
class Template:
    """One prompt template. `max_tests` is the parser's default cap for its responses."""

    name: str
    version: int
    system: str
    instructions: str  # formatted with n_tests, format_example, kind_note
    stdio_note: str
    functional_note: str
    needs_reasoning: bool  # the format term asks for a reasoning block per test / before the code
    max_tests: int | None
    test_style: str  # "block": Input/Output in one fence; "cure": two bold-labelled fences; "": none

    @property
    def id(self) -> str:
        return f"{self.name}@{self.version}"


_STDIO_TEST_NOTE = (
    "`Input:` is followed by the exact text given on standard input, and `Output:` by the exact "
    "text a correct program prints on standard output."
)
_FUNCTIONAL_TEST_NOTE = (
    "The solution is the function `{fn_name}`. `Input:` is followed by a JSON list holding the "
    "positional arguments of one call (for example `[[1, 2, 3], 4]` for two arguments), and "
    "`Output:` by the JSON value that a correct `{fn_name}` returns for them."
)

UTRL_TEST = Template(
    name="utrl-test",
    version=1,
    system=(
        "You are an expert in competitive programming who writes unit tests that tell correct "
        "solutions apart from subtly wrong ones."
    ),
    instructions=(
        "Write {n_tests} unit tests for the problem above. Every test must be correct: its input "
        "respects all the constraints of the problem and its expected output is exactly what a "
        "correct solution produces. Choose tests that expose likely mistakes: edge cases, boundary "
        "values, special structures, and inputs big enough to defeat inefficient solutions while "
        "still short enough to write out in full. Do not repeat a test.\n\n"
        "For each test, first explain in a <reasoning>...</reasoning> block which mistake the test "
        "targets and how you worked out the expected output, then write the test in a fenced block "
        "of exactly this form:\n\n{format_example}\n\n{kind_note}"
    ),
    stdio_note=_STDIO_TEST_NOTE,
    functional_note=_FUNCTIONAL_TEST_NOTE,
    needs_reasoning=True,
    max_tests=None,
    test_style="block",
)

UTRL_CODE = Template(
    name="utrl-code",
    version=1,
    system="You are an expert competitive programmer who writes correct and efficient Python 3.",
    instructions=(
        "Solve the problem above in Python 3. First think it through in a "
        "<reasoning>...</reasoning> block, then give the complete solution in a single "
        "```python fenced block.\n\n{kind_note}"
    ),
    stdio_note="The program reads from standard input and writes the answer to standard output.",
    functional_note=(
        "Define `{fn_name}` as in the starter code; it is called with the arguments and its return "
        "value is checked. Do not read input or print the answer."
    ),
    needs_reasoning=True,
    max_tests=None,
    test_style="",
)

ATGEN = Template(
    name="atgen",
    version=1,
    system=(
        "You are an expert in competitive programming who finds bugs in code by writing a single "
        "test that it fails."
    ),
    instructions=(
        "The code below tries to solve the problem above, but it contains a bug.\n\n"
        "```python\n{buggy_code}\n```\n\n"
        "Write one test that a correct solution passes and this code fails. The input must respect "
        "all the constraints of the problem, and the expected output must be exactly what a correct "
        "solution produces (not what the buggy code produces). First explain in a "
        "<reasoning>...</reasoning> block where the bug is and how you worked out the expected "
        "output, then write the test in a fenced block of exactly this form:\n\n"
        "{format_example}\n\n{kind_note}"
    ),
    stdio_note=_STDIO_TEST_NOTE,
    functional_note=_FUNCTIONAL_TEST_NOTE,
    needs_reasoning=True,
    max_tests=1,
    test_style="block",
)

CURE = Template(
    name="cure",
    version=1,
    system="You are an expert in competitive programming who writes unit tests.",
    instructions=(
        "Write one unit test for the problem above: an input that respects all the constraints of "
        "the problem, and the output a correct solution produces for it. Answer in exactly this "
        "form:\n\n{format_example}\n\n{kind_note}"
    ),
    stdio_note=_STDIO_TEST_NOTE,
    functional_note=_FUNCTIONAL_TEST_NOTE,
    needs_reasoning=False,
    max_tests=1,
    test_style="cure",
)

THINKING_NOTE = (
    "Think the problem through before you answer. Only what you write after your thinking is read, "
    "so give the complete answer there in the format above."
)

TEMPLATES: dict[str, Template] = {t.name: t for t in (UTRL_TEST, UTRL_CODE, ATGEN, CURE)}


def get_template(template: str | Template) -> Template:
    """The template named `template` (or `template` itself), failing with the known names."""
    if isinstance(template, Template):
        return template
    try:
        return TEMPLATES[template]
    except KeyError:
        raise ValueError(f"unknown template {template!r}; expected one of {', '.join(TEMPLATES)}") from None


def template_id(template: str | Template) -> str:
    """The versioned id recorded with every output, e.g. "utrl-test@1"."""
    return get_template(template).id


def render_value(value: Any, kind: str) -> str:
    """The text of one test input or output as the templates ask for it.

    stdio values are shown verbatim without their final newline (the parser adds it back);
    functional values as one line of JSON.
    """
    if kind == "stdio":
        text = str(value)
        return text[:-1] if text.endswith("\n") else text
    return json.dumps(value, ensure_ascii=False)


def render_test(test: dict[str, Any], kind: str, style: str = "block") -> str:
    """A test in the format the templates ask for; `atest.core.parsing` reads it back exactly."""
    inp, out = render_value(test["input"], kind), render_value(test["output"], kind)
    if style == "cure":
        return f"**Test Input:**\n```\n{inp}\n```\n**Test Output:**\n```\n{out}\n```"
    return f"```\nInput:\n{inp}\n\nOutput:\n{out}\n```"


def _format_example(template: Template, kind: str) -> str:
    if template.test_style == "":
        return ""
    if kind == "functional":
        body = {"input": "[<argument 1>, <argument 2>, ...]", "output": "<returned value>"}
    else:
        body = {"input": "<the whole standard input>", "output": "<the whole standard output>"}
    example = render_test(body, "stdio", template.test_style)
    if template.needs_reasoning:
        example = "<reasoning>...</reasoning>\n" + example
    return example


def _problem_text(task: Task) -> str:
    text = f"Problem:\n{task.question.strip()}\n"
    if task.starter_code and task.starter_code.strip():
        text += f"\nStarter code:\n```python\n{task.starter_code.strip()}\n```\n"
    return text


def build_messages(
    template: str | Template,
    task: Task,
    *,
    buggy_code: str | None = None,
    thinking: bool = False,
    n_tests: int = 12,
) -> list[dict[str, str]]:
    """The chat messages (system, user) asking `template`'s question about `task`."""
    tpl = get_template(template)
    if tpl.name == "atgen" and buggy_code is None:
        raise ValueError("the atgen template needs buggy_code")
    if task.kind == "functional":
        kind_note = tpl.functional_note.format(fn_name=task.fn_name)
    else:
        kind_note = tpl.stdio_note
    example = _format_example(tpl, task.kind)
    instructions = tpl.instructions.format(
        n_tests=n_tests,
        format_example=example,
        kind_note=kind_note,
        buggy_code=(buggy_code or "").rstrip(),
    )
    user = f"{_problem_text(task)}\n{instructions.rstrip()}"
    if thinking:
        user += f"\n\n{THINKING_NOTE}"
    return [{"role": "system", "content": tpl.system}, {"role": "user", "content": user}]


_PROBE_TASKS = (
    Task("probe-stdio", "Print the sum of two integers.", "stdio", [], []),
    Task("probe-fn", "Return the sum of a list.", "functional", [], [], fn_name="total",
         starter_code="def total(xs):\n    pass"),
)  # fmt: skip


def template_fingerprint(template: str | Template) -> str:
    """A hash of the messages the template renders for fixed probe tasks, in every mode.

    It covers the framing `build_messages` adds as well as the template's own texts; the tests
    pin it next to the version, so no prompt text changes without a new `template_id`.
    """
    tpl = get_template(template)
    h = hashlib.sha256()
    for task in _PROBE_TASKS:
        for thinking in (False, True):
            messages = build_messages(tpl, task, buggy_code="print(0)", thinking=thinking, n_tests=7)
            h.update(json.dumps(messages, sort_keys=True).encode("utf-8"))
    return h.hexdigest()[:16]
