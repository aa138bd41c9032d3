"""The UTRL authors' own rules that are text functions (dgjun32/UTRL at d4d7305).

Reproduced, not improved: every quirk below changes published numbers, and `--paper utrl`
exists to get those numbers back. The rewards, metrics and checks select these through the
`atest.core.rules.UTRL` rules object (they are not a second copy of those functions);
docs/rewards.md ("UTRL's own rules") lists each one next to atest's rule and the reason atest
departs from it.

* Tests are read by one pattern over the whole response: from any run of three backticks, the
  first `Input:` that ends its line, then everything up to the next line that is exactly
  `Output:`, then everything up to the next three backticks. Both values are stripped of
  surrounding whitespace; tests inside `<reasoning>` count; fence labels are ignored.
* A program passes a test when it exits 0, writes nothing to stderr, and its stripped stdout
  is non-empty and equal, as text, to the stripped expected output (`checking.verdict` under
  `rules.UTRL`). So an empty expected output can never be passed, a single stray space inside
  a line fails, and `1.0` is not `1`.
* Before running, the code is sniffed for its language by keyword scores. Python 3 code
  (or code of no clear version) gets a header of star-imports prepended, which shadows
  builtins (`pow` becomes `math.pow`, `compile` becomes `re.compile`). Code scored as Java,
  C or C++ is compiled as such and, being Python, fails. Code scored as Python 2 is run by
  `python2`, whose outcome depends on the machine (a real Python 2; a fallback to `python`
  without the header when there is no `python2`; a failure where `python2` is a stub, as on
  the machine that produced the oracle): here it fails every test.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from atest.core.checking import Test, distinct_tests
from atest.core.sandbox.harness import PRELUDE_SOURCES

Language = Literal["python3", "python", "python2", "java", "cpp", "c"]

_TEST = re.compile(r"```.*?Input:\n(?P<input>.*?)\nOutput:\n(?P<output>.*?)```", re.DOTALL)
_CODE_FORMAT_REASONING = re.compile(r"<reasoning>\s*(.+?)\s*</reasoning>", re.DOTALL)
_CODE_FORMAT_BLOCK = re.compile(r"```python\s*\n(.+?)\n```", re.DOTALL)

# The star-import header at the top of every Python 3 program: the sandbox harness's "utrl"
# prelude (`Harness(prelude="utrl")`, selected by `rules.UTRL`), where it is defined once.
HEADER = PRELUDE_SOURCES["utrl"]


# ------------------------------------------------------------------ parsing


def parse_tests(response: str) -> list[Test]:
    """Every test the authors' pattern finds, in order, duplicates kept, values stripped."""
    return [Test(m.group("input").strip(), m.group("output").strip()) for m in _TEST.finditer(response)]


def unique_tests(tests: Sequence[Test]) -> list[Test]:
    """Exact duplicates (same input and same output) dropped, first occurrences kept.

    The authors keep a test unless an equal one is already in their list; on their text tests
    that is identity by input and output. atest's own rewards drop a test whose input an
    earlier one has, whatever its output (at most one of the two can be valid); here both
    stay, and count toward the number of unique tests and the validity ratio.
    """
    return distinct_tests(tests, by="test")


def test_format(response: str, n_tests: int) -> float:
    """1 when the response has as many `<reasoning>` tags as parsed tests and ends with a fence."""
    return float(response.count("<reasoning>") == n_tests and response.strip().endswith("```"))


def extract_code(response: str) -> str:
    """The text after the last "```python" up to the next fence, stripped; the whole
    response (up to its first fence) when there is no python fence."""
    return response.split("```python")[-1].split("```")[0].strip()


def code_format(response: str) -> float:
    """1 when a non-empty `<reasoning>` block is followed by a non-empty ```python block."""
    m = _CODE_FORMAT_REASONING.search(response)
    if m is None or not m.group(1).strip():
        return 0.0
    block = _CODE_FORMAT_BLOCK.search(response[m.end() :])
    return float(block is not None and bool(block.group(1).strip()))


# ------------------------------------------------------------------ language sniffing


def _hits(patterns: Sequence[str], code: str, flags: int = re.IGNORECASE) -> int:
    return sum(1 for p in patterns if re.search(p, code, flags))


_PY2 = (
    r"print\s+[^(]", r"raw_input\s*\(", r"xrange\s*\(", r"\.iteritems\s*\(", r"\.iterkeys\s*\(",
    r"\.itervalues\s*\(", r"unicode\s*\(", r"basestring", r"long\s*\(", r"exec\s+[^(]",
    r"raise\s+\w+,", r"<>\s*", r"from\s+__future__\s+import",
)  # fmt: skip
_PY3 = (
    r"print\s*\(", r"input\s*\(", r"range\s*\(", r"\.items\s*\(", r"\.keys\s*\(", r"\.values\s*\(",
    r"nonlocal\s+", r"async\s+def", r"await\s+", r"yield\s+from", r"@\w+\.setter", r"typing\.",
    r"f[\"']", r"pathlib\.",
)  # fmt: skip
_JAVA = (
    r"public\s+class\s+\w+", r"public\s+static\s+void\s+main", r"System\.out\.print",
    r"Scanner\s+\w+\s*=\s*new\s+Scanner", r"import\s+java\.", r"package\s+\w+",
)  # fmt: skip
_CPP = (
    *(rf"#include\s*<{h}>" for h in ("iostream", "vector", "string", "algorithm", "queue", "stack",
                                      "map", "set", "unordered_map", "unordered_set")),
    r"std::", r"using\s+namespace\s+std", r"cout\s*<<", r"cin\s*>>", r"endl", r"vector\s*<",
    r"string\s+\w+", r"class\s+\w+\s*{", r"public\s*:", r"private\s*:", r"protected\s*:",
)  # fmt: skip
_C = (
    *(rf"#include\s*<{h}\.h>" for h in ("stdio", "stdlib", "string", "math")),
    r"int\s+main\s*\(", r"printf\s*\(", r"scanf\s*\(", r"#define\s+\w+", r"malloc\s*\(", r"free\s*\(",
)  # fmt: skip
_PYTHON = (
    r"def\s+\w+\s*\(", r"class\s+\w+\s*\(?.*\)?:", r"import\s+\w+", r"from\s+\w+\s+import",
    r"if\s+__name__\s*==\s*[\"']__main__[\"']", r"print\s*\(", r"input\s*\(",
)  # fmt: skip


def python_version(code: str) -> Language:
    """ "python2", "python3", or "python" on a tie, by the authors' keyword scores."""
    py2, py3 = _hits(_PY2, code), _hits(_PY3, code)
    statements = len(re.findall(r"print\s+[^(]", code))
    calls = len(re.findall(r"print\s*\(", code))
    if statements > calls:
        py2 += 2
    elif calls > statements:
        py3 += 2
    if "from __future__ import division" in code:
        py2 += 1
    if re.search(r"[ub][\"']", code, re.IGNORECASE):
        py2 += 1
    if re.search(r":\s*\w+\s*=", code) or re.search(r"def\s+\w+\([^)]*:\s*\w+", code):
        py3 += 2
    if py2 > py3:
        return "python2"
    if py3 > py2:
        return "python3"
    return "python"


def language(code: str) -> Language:
    """The language the authors' runner would treat `code` as."""
    java, cpp, c, python = _hits(_JAVA, code), _hits(_CPP, code), _hits(_C, code), _hits(_PYTHON, code)
    if (
        re.search(r"#include\s*<iostream>", code, re.IGNORECASE)
        or "std::" in code
        or re.search(r"using\s+namespace\s+std", code, re.IGNORECASE)
    ):
        cpp += 5
    lines = code.split("\n")
    if sum(1 for line in lines if line.startswith(("    ", "\t"))) > len(lines) * 0.2:
        python += 2
    if sum(1 for line in lines if line.strip().endswith(";")) > len(lines) * 0.3:
        java, c, cpp = java + 1, c + 1, cpp + 1
    if "{" in code and "}" in code:
        java, c, cpp = java + 1, c + 1, cpp + 1
    scores: dict[Language, int] = {"java": java, "cpp": cpp, "c": c, "python": python}
    best = max(scores.values())
    if best == 0:
        return "python"
    winner = next(lang for lang, score in scores.items() if score == best)
    return python_version(code) if winner == "python" else winner


# ------------------------------------------------------------------ running


def program_source(code: str) -> str | None:
    """The file the authors' runner executes for `code`, or None when it would not run it
    as Python 3 (so the code fails every test). The sandbox gets `code` with the "utrl"
    harness prelude instead (`checking.program_under`), which runs this same text."""
    return HEADER + code if language(code) in ("python3", "python") else None
