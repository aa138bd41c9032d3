"""Turning a gold solution into K mutants, reproducibly.

A mutant's source is the original text with only the mutated node's span rewritten,
so comments and layout survive (buggy code shown to a model should look like code a
person wrote, not like `ast.unparse` output). Every splice is checked by re-parsing:
if the text does not parse to exactly the mutated tree (say, an operator swap changed
precedence), the replacement is parenthesized, and failing that the whole module is
unparsed. Mutants that do not compile, or that equal the original or an earlier mutant
as trees, are dropped.

The choice is seeded by (seed, source), never by position in a file, so a task gets the
same mutants whatever else is in the batch. Sites are drawn round-robin over operator
families in a seeded order, so even small K mixes several kinds of fault.
"""

from __future__ import annotations

import ast
import hashlib
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from atest.core.mutation.operators import Site, find_sites


@dataclass(frozen=True)
class Mutant:
    """One mutant of a program: its source and what was changed where (1-based line and column)."""

    source: str
    operator: str
    description: str
    line: int
    col: int

    def to_dict(self) -> dict:
        return asdict(self)


def _line_starts(data: bytes) -> list[int]:
    starts = [0]
    for line in data.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


class _Splicer:
    """Rewrites one node's span of the original text; columns in `ast` are UTF-8 byte offsets."""

    def __init__(self, source: str):
        self.data = source.encode("utf-8")
        self.starts = _line_starts(self.data)

    def span(self, node: ast.AST) -> tuple[int, int]:
        start = self.starts[node.lineno - 1] + node.col_offset  # type: ignore[attr-defined]
        end = self.starts[node.end_lineno - 1] + node.end_col_offset  # type: ignore[attr-defined]
        return start, end

    def replace(self, node: ast.AST, text: str) -> str:
        start, end = self.span(node)
        return (self.data[:start] + text.encode("utf-8") + self.data[end:]).decode("utf-8")

    def char_col(self, node: ast.AST) -> int:
        line_start = self.starts[node.lineno - 1]  # type: ignore[attr-defined]
        prefix = self.data[line_start : line_start + node.col_offset]  # type: ignore[attr-defined]
        return len(prefix.decode("utf-8", errors="replace")) + 1


def _parses_to(text: str, expected_dump: str) -> bool:
    try:
        return ast.dump(ast.parse(text)) == expected_dump
    except (SyntaxError, ValueError):
        return False


def _render(splicer: _Splicer, tree: ast.Module, site: Site, expected_dump: str) -> str | None:
    """Source text whose tree is the mutated tree, keeping the original layout where possible."""
    replacement = ast.unparse(site.new)
    attempts = [replacement] if isinstance(site.new, ast.stmt) else [replacement, f"({replacement})"]
    for text in attempts:
        candidate = splicer.replace(site.old, text)
        if _parses_to(candidate, expected_dump):
            return candidate
    whole = ast.unparse(tree)
    return whole if _parses_to(whole, expected_dump) else None


def _compiles(text: str) -> bool:
    try:
        compile(text, "<mutant>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True


def _rng(source: str, seed: int) -> random.Random:
    digest = hashlib.sha256(f"{seed}\0{source}".encode("utf-8", "surrogatepass")).hexdigest()
    return random.Random(digest)


def _draw_order(sites: list[Site], rng: random.Random) -> Iterator[Site]:
    """All sites, shuffled within each family, families interleaved round-robin in a seeded order."""
    families: dict[str, list[Site]] = {}
    for site in sites:
        families.setdefault(site.operator, []).append(site)
    queues = [families[name] for name in sorted(families)]
    rng.shuffle(queues)
    for queue in queues:
        rng.shuffle(queue)
    depth = 0
    while any(depth < len(q) for q in queues):
        for queue in queues:
            if depth < len(queue):
                yield queue[depth]
        depth += 1


def iter_mutants(source: str, seed: int = 0) -> Iterator[Mutant]:
    """Distinct, compilable mutants of `source` in seeded order; raises SyntaxError if it does not parse."""
    tree = ast.parse(source)
    splicer = _Splicer(source)
    seen = {ast.dump(tree)}
    for site in _draw_order(find_sites(tree), _rng(source, seed)):
        site.apply()
        try:
            dump = ast.dump(tree)
            text = None if dump in seen else _render(splicer, tree, site, dump)
        finally:
            site.undo()
        seen.add(dump)
        if text is None or not _compiles(text):
            continue
        yield Mutant(text, site.operator, site.description, site.line, splicer.char_col(site.old))


def generate_mutants(source: str, k: int, seed: int = 0) -> list[Mutant]:
    """Up to `k` mutants of `source` (fewer when the program has fewer distinct mutation sites)."""
    if k < 0:
        raise ValueError(f"k must be non-negative, got {k}")
    out: list[Mutant] = []
    if k == 0:
        return out
    for mutant in iter_mutants(source, seed):
        out.append(mutant)
        if len(out) == k:
            break
    return out
