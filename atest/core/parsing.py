"""Reading tests and code out of model responses.

The parsers are lenient about layout and strict about meaning. `Input:` may be followed by the
value on the same line or the next ones, inside one fence with `Output:`, in a fence of its own
(CURE's `**Test Input:**` style) or with no fence at all; CRLF line ends and a missing final
fence are accepted. A fence's label does not matter (models write ```` ```bash ````, ```` ```yaml ````,
```` ```in ```` around tests), except that a Python-labelled fence is code and never holds tests. Nothing written inside a `<reasoning>` or `<think>` block counts as a test,
so a model cannot score by hiding tests in its explanation. Everything that is dropped is
reported with its reason.

stdio values are kept verbatim (leading and trailing spaces, blank lines): only the single blank
line that separates `Input` from `Output` is removed and a final newline is added, so programs
that do `input()[:-1]` or read line by line see what the model wrote. Functional arguments are
a JSON list (positional) or object (keyword), or their Python-literal spelling, parsed without
evaluating code.

All scanning is line by line with anchored patterns, so time is linear in the response size.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from atest.core.checking import identity
from atest.core.prompts import get_template

# Why a test block was dropped.
UNPARSEABLE = "unparseable"  # the value is not valid for the task's kind (functional JSON/literal)
INCOMPLETE = "incomplete"  # an Input without its Output
DUPLICATE = "duplicate"  # same input as an earlier test of the response
OVER_CAP = "over_cap"  # beyond max_tests

_SNIPPET = 80
_MAX_LITERAL_CHARS = 200_000  # Python-literal parsing (ast) is only tried below this size
_CODE_FENCE_INFO = {"python", "py", "python3", "py3"}
_TAG = re.compile(r"<(/?)(reasoning|think)>", re.IGNORECASE)
_MARKER = re.compile(
    r"[ \t>#*_\-]*(?:(?:test|expected|sample)[ \t]+)?(input|output)(?:[ \t]*\([^()\n]{0,20}\))?"
    r"(?:[ \t]*\*\*)?[ \t]*:(?:\*\*)?(.*)",
    re.IGNORECASE,
)


@dataclass
class ParseResult:
    """Tests parsed from one response, what was dropped and why, and whether the format was kept."""

    tests: list[dict[str, Any]]
    dropped: list[tuple[str, str]] = field(default_factory=list)
    well_formed: bool = False


@dataclass
class _Block:
    input_lines: list[str]
    output_lines: list[str] | None  # None: no Output followed the Input
    reasoned: bool


@dataclass
class _Piece:
    tag: str | None  # None: ordinary text; "reasoning" or "think": inside that block
    text: str


def _normalise(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _pieces(text: str) -> tuple[list[_Piece], bool]:
    """Split text into ordinary and tagged pieces; the flag says every block was closed.

    A closing tag without its opening one (Qwen3 prompts open `<think>` themselves) makes all
    text before it part of that block. An unclosed block runs to the end of the text.
    """
    pieces: list[_Piece] = []
    head: tuple[str, int] | None = None  # the last stray closing tag: its name and position
    pos = 0
    inside: str | None = None
    for m in _TAG.finditer(text):
        closing, name = m.group(1) == "/", m.group(2).lower()
        if inside is None and not closing:
            pieces.append(_Piece(None, text[pos : m.start()]))
            inside, pos = name, m.end()
        elif inside is None:
            pieces.clear()
            head, pos = (name, m.start()), m.end()
        elif closing and name == inside:
            pieces.append(_Piece(inside, text[pos : m.start()]))
            inside, pos = None, m.end()
    pieces.append(_Piece(inside, text[pos:]))
    if head is not None:
        pieces.insert(0, _Piece(head[0], text[: head[1]]))
    return pieces, inside is None


def _is_fence(line: str) -> bool:
    s = line.lstrip()
    return s.startswith("```") or s.startswith("~~~")


def _fence_info(line: str) -> str:
    """The first word after a fence's backticks, lower-cased ("" for a bare fence)."""
    words = line.strip().lstrip("`~").split(None, 1)
    return words[0].lower() if words else ""


def _marker(line: str) -> tuple[str, str] | None:
    """("input" | "output", the rest of the line) when the line opens a test value."""
    m = _MARKER.match(line)
    if m is None:
        return None
    rest = m.group(2).strip()
    if rest.startswith("`") and not rest.startswith("```"):
        rest = rest.strip("`").strip()
    return m.group(1).lower(), rest


class _Scanner:
    """Finds Input/Output blocks in ordinary (untagged) text, one line at a time."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        self.n = len(lines)
        self.in_fence = False
        self.unclosed = False

    def _next_nonblank(self, k: int) -> int:
        while k < self.n and not self.lines[k].strip():
            k += 1
        return k

    def blocks(self, reasoned: bool) -> Iterator[_Block]:
        """Yield blocks; `reasoned` applies to the first (a reasoning block precedes it)."""
        i = 0
        lines = self.lines
        while i < self.n:
            line = lines[i]
            if _is_fence(line):
                if self.in_fence:
                    self.in_fence = False
                    i += 1
                elif _fence_info(line) not in _CODE_FENCE_INFO:
                    self.in_fence = True
                    i += 1
                else:
                    i = self._skip_code(i + 1)
                continue
            m = _marker(line)
            if m is None or m[0] != "input":
                i += 1
                continue
            inp, i = self._value(i, m[1], is_output=False)
            j = self._gap(i)
            m2 = _marker(lines[j]) if j < self.n else None
            if m2 is None or m2[0] != "output":
                yield _Block(inp, None, reasoned)
            else:
                out, i = self._value(j, m2[1], is_output=True)
                yield _Block(inp, out, reasoned)
            reasoned = False

    def _skip_code(self, k: int) -> int:
        while k < self.n and not _is_fence(self.lines[k]):
            k += 1
        if k >= self.n:
            self.unclosed = True
        return k + 1

    def _gap(self, k: int) -> int:
        """Skip blank lines, and a fence opening right before an Output marker."""
        k = self._next_nonblank(k)
        if k < self.n and not self.in_fence and _is_fence(self.lines[k]):
            after = self._next_nonblank(k + 1)
            m = _marker(self.lines[after]) if after < self.n else None
            if m is not None and m[0] == "output":
                self.in_fence = True
                return after
        return k

    def _value(self, i: int, rest: str, is_output: bool) -> tuple[list[str], int]:
        """The lines of the value opened by the marker on line i, and the index after it."""
        lines, k = self.lines, i + 1
        if not rest and not self.in_fence:
            j = self._next_nonblank(k)
            if j < self.n and _is_fence(lines[j]):  # the value has a fence of its own
                body: list[str] = []
                k = j + 1
                while k < self.n and not _is_fence(lines[k]):
                    body.append(lines[k])
                    k += 1
                if k >= self.n:
                    self.unclosed = True
                return body, k + 1
        body = [rest] if rest else []
        if is_output and not rest:
            k = self._next_nonblank(k)
        while k < self.n:
            line = lines[k]
            if _is_fence(line):
                if self.in_fence:
                    self.in_fence = False
                    k += 1
                break
            if _marker(line) is not None or (is_output and not self.in_fence and not line.strip()):
                break
            body.append(line)
            k += 1
        if not is_output and body and body[-1] == "":
            body.pop()  # the blank line that separates Input from Output
        return body, k


def _stdio_input(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"


def _stdio_output(lines: list[str]) -> str:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return "\n".join(lines[start:end]) + "\n" if end > start else ""


class _Invalid(ValueError):
    pass


def _jsonable(value: Any) -> Any:
    """`value` as JSON data (tuples become lists); raises _Invalid for anything else."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Invalid("non-finite number")
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _jsonable(v) for k, v in value.items()}
    raise _Invalid(f"{type(value).__name__} is not JSON data")


_FAILED = object()


def _json_value(text: str) -> Any:
    try:
        return _jsonable(json.loads(text))
    except (ValueError, RecursionError):
        return _FAILED


def _literal_value(text: str) -> Any:
    if len(text) > _MAX_LITERAL_CHARS:
        return _FAILED
    try:
        return _jsonable(ast.literal_eval(text))
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        return _FAILED


def _call_arguments(text: str) -> Any:
    """`a, b` or `x=1, y=[2]` as written inside a call: positional list or keyword dict."""
    if len(text) > _MAX_LITERAL_CHARS:
        return _FAILED
    try:
        call = ast.parse(f"f({text}\n)", mode="eval").body
        if not isinstance(call, ast.Call) or any(kw.arg is None for kw in call.keywords):
            return _FAILED
        args = [_jsonable(ast.literal_eval(a)) for a in call.args]
        kwargs = {kw.arg: _jsonable(ast.literal_eval(kw.value)) for kw in call.keywords}
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        return _FAILED
    if args and kwargs:
        return _FAILED
    return kwargs if kwargs else args


def parse_arguments(text: str) -> list[Any] | dict[str, Any] | None:
    """Functional-task arguments: a list (positional) or dict (keyword), or None if unreadable.

    A bare value that is neither is one positional argument.
    """
    text = text.strip()
    if not text:
        return None
    for reader in (_json_value, _literal_value):
        value = reader(text)
        if value is not _FAILED:
            return value if isinstance(value, (list, dict)) else [value]
    value = _call_arguments(text)
    return None if value is _FAILED else value


def parse_value(text: str) -> tuple[bool, Any]:
    """A functional-task return value: (True, value), or (False, None) if unreadable."""
    text = text.strip()
    if not text:
        return False, None
    for reader in (_json_value, _literal_value):
        value = reader(text)
        if value is not _FAILED:
            return True, value
    return False, None


def _snippet(lines: list[str]) -> str:
    text = "\n".join(lines[:3])
    return text if len(text) <= _SNIPPET else text[: _SNIPPET - 3] + "..."


def _to_test(block: _Block, kind: str) -> tuple[dict[str, Any] | None, tuple[str, str] | None]:
    if block.output_lines is None:
        return None, (INCOMPLETE, "Input without Output: " + _snippet(block.input_lines))
    if kind == "stdio":
        return {"input": _stdio_input(block.input_lines), "output": _stdio_output(block.output_lines)}, None
    args = parse_arguments("\n".join(block.input_lines))
    if args is None:
        return None, (UNPARSEABLE, "arguments: " + _snippet(block.input_lines))
    ok, value = parse_value("\n".join(block.output_lines))
    if not ok:
        return None, (UNPARSEABLE, "return value: " + _snippet(block.output_lines))
    return {"input": args, "output": value}, None


def _scan(text: str) -> tuple[list[_Block], bool]:
    """Every test block outside tagged pieces, and whether all tags and fences were closed."""
    pieces, tags_closed = _pieces(_normalise(text))
    blocks: list[_Block] = []
    reasoned = False
    fences_closed = True
    for piece in pieces:
        if piece.tag == "reasoning":
            reasoned = reasoned or bool(piece.text.strip())
            continue
        if piece.tag is not None:
            continue
        scanner = _Scanner(piece.text.split("\n"))
        for block in scanner.blocks(reasoned):
            blocks.append(block)
            reasoned = False
        fences_closed = fences_closed and not scanner.in_fence and not scanner.unclosed
    return blocks, tags_closed and fences_closed


def parse_tests(text: str, kind: str, *, template: str, max_tests: int | None = None) -> ParseResult:
    """The distinct tests in a response, in order, capped at `max_tests` (default: the template's).

    `well_formed` holds when at least one test was found, every block parsed, every test had its
    own reasoning block (for templates that ask for one), the single-test templates got exactly
    one block, and every tag and fence was closed.
    """
    tpl = get_template(template)
    cap = max_tests if max_tests is not None else tpl.max_tests
    blocks, closed = _scan(text)
    tests: list[dict[str, Any]] = []
    dropped: list[tuple[str, str]] = []
    seen: set[tuple[str, ...]] = set()
    clean = True
    for block in blocks:
        test, problem = _to_test(block, kind)
        if test is None:
            assert problem is not None
            dropped.append(problem)
            clean = False
            continue
        key = identity(test, by="input")
        if key in seen:
            dropped.append((DUPLICATE, _snippet(block.input_lines)))
        elif cap is not None and len(tests) >= cap:
            dropped.append((OVER_CAP, _snippet(block.input_lines)))
        else:
            seen.add(key)
            tests.append(test)
    well_formed = (
        bool(tests)
        and clean
        and closed
        and (not tpl.needs_reasoning or all(b.reasoned for b in blocks))
        and (tpl.max_tests != 1 or len(blocks) == 1)
    )
    return ParseResult(tests=tests, dropped=dropped, well_formed=well_formed)


@dataclass
class _Fenced:
    info: str
    lines: list[str]
    closed: bool


def _fenced_blocks(text: str) -> list[_Fenced]:
    lines = text.split("\n")
    out: list[_Fenced] = []
    i, n = 0, len(lines)
    while i < n:
        if not _is_fence(lines[i]):
            i += 1
            continue
        info = _fence_info(lines[i])
        k = i + 1
        while k < n and not _is_fence(lines[k]):
            k += 1
        out.append(_Fenced(info, lines[i + 1 : k], k < n))
        i = k + 1
    return out


def _code_of(blocks: list[_Fenced]) -> _Fenced | None:
    """The last python block, else the last bare block that is not a test."""
    for block in reversed(blocks):
        if block.info in _CODE_FENCE_INFO and any(line.strip() for line in block.lines):
            return block
    for block in reversed(blocks):
        if (
            block.info == ""
            and any(line.strip() for line in block.lines)
            and not any(_marker(line) for line in block.lines)
        ):
            return block
    return None


def _without_think(text: str) -> str:
    pieces, _ = _pieces(_normalise(text))
    return "".join(p.text for p in pieces if p.tag != "think")


def extract_code(text: str) -> str | None:
    """The final ```python block of a response (a missing closing fence is tolerated), or None.

    Code inside `<think>` is a draft and is ignored.
    """
    block = _code_of(_fenced_blocks(_without_think(text)))
    if block is None:
        return None
    return "\n".join(block.lines).rstrip() + "\n"


def code_well_formed(text: str) -> bool:
    """UTRL's code format: a non-empty reasoning (or think) block, then a closed, non-empty python block."""
    pieces, _ = _pieces(_normalise(text))
    for idx, piece in enumerate(pieces):
        if piece.tag is not None and piece.text.strip():
            after = "".join(p.text for p in pieces[idx + 1 :] if p.tag is None)
            block = _code_of(_fenced_blocks(after))
            return block is not None and block.closed
    return False
