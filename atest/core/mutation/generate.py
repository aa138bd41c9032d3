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

from atest.core.mutation.live import live_body
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


def _parse_as(text: str, index: int, expected: str, n_body: int) -> ast.Module | None:
    """`text` parsed, if it is the mutated module: same statement count, statement `index` as expected.

    Text outside the mutated statement is untouched, so comparing that one statement is enough.
    """
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    ok = len(tree.body) == n_body and ast.dump(tree.body[index]) == expected
    return tree if ok else None


def _render(splicer: _Splicer, tree: ast.Module, site: Site, index: int, expected: str) -> str | None:
    """Compilable source text whose tree is the mutated tree, keeping the original layout where possible."""
    replacement = ast.unparse(site.new)
    attempts = [replacement] if isinstance(site.new, ast.stmt) else [replacement, f"({replacement})"]
    n_body = len(tree.body)
    for text in attempts:
        candidate = splicer.replace(site.old, text)
        parsed = _parse_as(candidate, index, expected, n_body)
        if parsed is not None:
            return candidate if _compiles(parsed) else None
    whole = ast.unparse(tree)
    try:
        parsed = ast.parse(whole)
    except (SyntaxError, ValueError):
        return None
    return whole if ast.dump(parsed) == ast.dump(tree) and _compiles(parsed) else None


def _compiles(tree: ast.Module) -> bool:
    """Parsing accepts some trees the compiler rejects (a `continue` that ends up outside a loop)."""
    try:
        compile(tree, "<mutant>", "exec", dont_inherit=True)
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


def iter_mutants(
    source: str, seed: int = 0, *, kind: str | None = None, fn_name: str | None = None
) -> Iterator[Mutant]:
    """Distinct, compilable mutants of `source` in seeded order; raises SyntaxError if it does not parse.

    With `kind` ("stdio" or "functional", and `fn_name` for the latter), only code the task
    can run is mutated (see `live`); without it, the whole module.
    """
    tree = ast.parse(source)
    splicer = _Splicer(source)
    indices = range(len(tree.body)) if kind is None else live_body(tree, kind, fn_name)
    # A site changes only its own top-level statement, so statements stand in for the module
    # in the duplicate check: dumping one statement is much cheaper than dumping the module.
    top: dict[Site, int] = {site: i for i in indices for site in find_sites(tree, [i])}
    seen = {(i, ast.dump(tree.body[i])) for i in indices}
    for site in _draw_order(list(top), _rng(source, seed)):
        i = top[site]
        site.apply()
        try:
            key = (i, ast.dump(tree.body[i]))
            text = None if key in seen else _render(splicer, tree, site, i, key[1])
        finally:
            site.undo()
        seen.add(key)
        if text is None:
            continue
        yield Mutant(text, site.operator, site.description, site.line, splicer.char_col(site.old))


def generate_mutants(
    source: str, k: int, seed: int = 0, *, kind: str | None = None, fn_name: str | None = None
) -> list[Mutant]:
    """Up to `k` mutants of `source` (fewer when the program has fewer distinct mutation sites)."""
    if k < 0:
        raise ValueError(f"k must be non-negative, got {k}")
    out: list[Mutant] = []
    if k == 0:
        return out
    for mutant in iter_mutants(source, seed, kind=kind, fn_name=fn_name):
        out.append(mutant)
        if len(out) == k:
            break
    return out
