"""Mutation operators: where a program can be changed, and into what.

Each operator family finds *sites* in a parsed program. A site names one node, the
slot in its parent that holds it, and the node to put there instead; the new node
shares its children with the old one, so applying and undoing a site is two pointer
writes and the tree never needs copying.

Families (the classic ones from the mutation-testing literature):
- `arith`: arithmetic and bitwise operator swaps (also in `+=` forms), unary minus removal
- `compare`: boundary (`<` vs `<=`) and negation (`==` vs `!=`, `in` vs `not in`) swaps
- `constant`: integer literal off by one
- `range_bound`: `range(...)` start or stop off by one
- `boolean`: `and`/`or` swap, `not` removal, condition negation, `True`/`False` swap
- `remove_statement`: a simple statement replaced by `pass`
- `loop_control`: `break`/`continue` swapped or removed
- `min_max`: `min` and `max` swapped
- `slice`: slice bounds off by one (or added)
- `return_value`: the returned value replaced by a plain value of the declared type
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

OPERATORS: tuple[str, ...] = (
    "arith",
    "compare",
    "constant",
    "range_bound",
    "boolean",
    "remove_statement",
    "loop_control",
    "min_max",
    "slice",
    "return_value",
)

_ARITH: dict[type[ast.operator], tuple[type[ast.operator], ...]] = {
    ast.Add: (ast.Sub,),
    ast.Sub: (ast.Add,),
    ast.Mult: (ast.Add, ast.FloorDiv),
    ast.Div: (ast.Mult,),
    ast.FloorDiv: (ast.Div, ast.Mult),
    ast.Mod: (ast.FloorDiv,),
    ast.Pow: (ast.Mult,),
    ast.LShift: (ast.RShift,),
    ast.RShift: (ast.LShift,),
    ast.BitAnd: (ast.BitOr,),
    ast.BitOr: (ast.BitAnd,),
    ast.BitXor: (ast.BitOr,),
}

_COMPARE: dict[type[ast.cmpop], tuple[type[ast.cmpop], ...]] = {
    ast.Lt: (ast.LtE, ast.GtE),
    ast.LtE: (ast.Lt, ast.Gt),
    ast.Gt: (ast.GtE, ast.LtE),
    ast.GtE: (ast.Gt, ast.Lt),
    ast.Eq: (ast.NotEq,),
    ast.NotEq: (ast.Eq,),
    ast.In: (ast.NotIn,),
    ast.NotIn: (ast.In,),
    ast.Is: (ast.IsNot,),
    ast.IsNot: (ast.Is,),
}

_SYMBOL: dict[type, str] = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
    ast.Pow: "**", ast.LShift: "<<", ast.RShift: ">>", ast.BitAnd: "&", ast.BitOr: "|",
    ast.BitXor: "^", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==",
    ast.NotEq: "!=", ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not",
}  # fmt: skip

# Simple statements whose removal is a plausible slip rather than a syntax change.
_REMOVABLE = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr)

# Fields that hold types or decoration, not behaviour worth mutating.
_SKIPPED_FIELDS = {"annotation", "returns", "decorator_list", "type_comment", "type_params"}


@dataclass(eq=False)
class Site:
    """One possible mutation: put `new` where `old` is (`parent.field[index]`, or `parent.field`)."""

    operator: str
    description: str
    parent: ast.AST
    field: str
    index: int | None
    old: ast.AST
    new: ast.AST

    @property
    def line(self) -> int:
        return self.old.lineno  # type: ignore[attr-defined]

    @property
    def col(self) -> int:
        return self.old.col_offset  # type: ignore[attr-defined]

    def _put(self, node: ast.AST) -> None:
        if self.index is None:
            setattr(self.parent, self.field, node)
        else:
            getattr(self.parent, self.field)[self.index] = node

    def apply(self) -> None:
        self._put(self.new)

    def undo(self) -> None:
        self._put(self.old)


def _const(value: object) -> ast.expr:
    """A literal as the parser would build it: negative numbers are a unary minus on a positive one."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
        return ast.UnaryOp(op=ast.USub(), operand=ast.Constant(value=-value))
    return ast.Constant(value=value)


def _shift(node: ast.expr, delta: int) -> ast.expr:
    op = ast.Add() if delta > 0 else ast.Sub()
    return ast.BinOp(left=node, op=op, right=_const(abs(delta)))


def _is_int(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int


def _is_negative_int(node: ast.AST | None) -> bool:
    return isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and _is_int(node.operand)


def _src(node: ast.AST) -> str:
    return ast.unparse(node)


def _neutral_return(annotation: ast.expr | None, value: ast.expr) -> tuple[ast.expr, str] | None:
    """A plain value of the function's declared return type, or None when it would change nothing."""
    name = ast.unparse(annotation) if annotation is not None else ""
    head = name.split("[", 1)[0].rsplit(".", 1)[-1].lower()
    if head == "bool":
        if isinstance(value, ast.Constant):
            return None  # the `boolean` family already flips literal True/False
        return ast.UnaryOp(op=ast.Not(), operand=value), f"return not ({_src(value)})"
    plain: dict[str, object] = {"int": 0, "float": 0.0, "str": ""}
    if head in plain:
        new: ast.expr = _const(plain[head])
        if isinstance(value, ast.Constant) and value.value == plain[head]:
            new = _const(1 if head == "int" else 1.0 if head == "float" else "a")
    elif head in ("list", "sequence"):
        if isinstance(value, ast.List) and not value.elts:
            return None
        new = ast.List(elts=[], ctx=ast.Load())
    else:
        if isinstance(value, ast.Constant) and value.value is None:
            return None
        new = _const(None)
    return new, f"return {_src(value)} -> return {_src(new)}"


class _Collector:
    """Walks a module and lists every site, in source order within each operator family."""

    def __init__(self) -> None:
        self.sites: list[Site] = []

    def add(self, op: str, desc: str, parent: ast.AST, field: str, index: int | None, new: ast.AST) -> None:
        old = getattr(parent, field) if index is None else getattr(parent, field)[index]
        self.sites.append(Site(op, desc, parent, field, index, old, new))

    def walk(self, node: ast.AST, returns: ast.expr | None) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            returns = node.returns
        elif isinstance(node, ast.Lambda):
            returns = None
        for field, value in ast.iter_fields(node):
            if field in _SKIPPED_FIELDS:
                continue
            if isinstance(value, list):
                for i, child in enumerate(value):
                    if isinstance(child, ast.AST):
                        self.visit(node, field, i, child, returns)
            elif isinstance(value, ast.AST):
                self.visit(node, field, None, value, returns)

    def visit(
        self, parent: ast.AST, field: str, index: int | None, node: ast.AST, returns: ast.expr | None
    ) -> None:
        if getattr(node, "lineno", None) is not None:
            for op, desc, new in _mutations(parent, field, node, returns):
                self.add(op, desc, parent, field, index, new)
        self.walk(node, returns)


def _mutations(
    parent: ast.AST, field: str, node: ast.AST, returns: ast.expr | None
) -> Iterator[tuple[str, str, ast.AST]]:
    """Every (operator, description, replacement) for `node`, sitting in `parent.field`."""
    if isinstance(node, ast.BinOp):
        for new_op in _ARITH.get(type(node.op), ()):
            desc = f"{_SYMBOL[type(node.op)]} -> {_SYMBOL[new_op]}"
            yield "arith", desc, ast.BinOp(left=node.left, op=new_op(), right=node.right)
    elif isinstance(node, ast.AugAssign):
        for new_op in _ARITH.get(type(node.op), ()):
            desc = f"{_SYMBOL[type(node.op)]}= -> {_SYMBOL[new_op]}="
            yield "arith", desc, ast.AugAssign(target=node.target, op=new_op(), value=node.value)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        if _is_int(node.operand):
            value = -node.operand.value  # type: ignore[attr-defined]
            yield "constant", f"{value} -> {value + 1}", _const(value + 1)
            yield "constant", f"{value} -> {value - 1}", _const(value - 1)
        else:
            yield "arith", f"-{_src(node.operand)} -> {_src(node.operand)}", node.operand
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "boolean", f"not {_src(node.operand)} -> {_src(node.operand)}", node.operand
    elif isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            for new_op in _COMPARE.get(type(op), ()):
                ops = [*node.ops[:i], new_op(), *node.ops[i + 1 :]]
                desc = f"{_SYMBOL[type(op)]} -> {_SYMBOL[new_op]}"
                yield "compare", desc, ast.Compare(left=node.left, ops=ops, comparators=node.comparators)
    elif isinstance(node, ast.BoolOp):
        new_op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        desc = "and -> or" if isinstance(node.op, ast.And) else "or -> and"
        yield "boolean", desc, ast.BoolOp(op=new_op, values=node.values)
    elif isinstance(node, ast.Constant):
        if type(node.value) is bool:
            yield "boolean", f"{node.value} -> {not node.value}", _const(not node.value)
        elif type(node.value) is int and not _negated(parent):
            yield "constant", f"{node.value} -> {node.value + 1}", _const(node.value + 1)
            yield "constant", f"{node.value} -> {node.value - 1}", _const(node.value - 1)
    elif isinstance(node, ast.Call):
        yield from _call_mutations(node)
    elif isinstance(node, ast.Slice):
        yield from _slice_mutations(node)
    elif isinstance(node, (ast.Break, ast.Continue)):
        word = "break" if isinstance(node, ast.Break) else "continue"
        other = ast.Continue() if isinstance(node, ast.Break) else ast.Break()
        yield "loop_control", f"{word} -> {'continue' if word == 'break' else 'break'}", other
        yield "loop_control", f"{word} removed", ast.Pass()
    elif isinstance(node, ast.Return) and node.value is not None:
        found = _neutral_return(returns, node.value)
        if found is not None:
            yield "return_value", found[1], ast.Return(value=found[0])
    if isinstance(node, _REMOVABLE) and not _is_docstring(node):
        yield "remove_statement", f"removed `{_first_line(node)}`", ast.Pass()
    if field == "test" and isinstance(parent, (ast.If, ast.While, ast.IfExp)):
        yield "boolean", f"condition `{_src(node)}` negated", ast.UnaryOp(op=ast.Not(), operand=node)


def _negated(parent: ast.AST) -> bool:
    """`-1` is a unary minus around 1; mutating the 1 would duplicate mutating the whole literal."""
    return isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.USub)


def _call_mutations(node: ast.Call) -> Iterator[tuple[str, str, ast.AST]]:
    if not isinstance(node.func, ast.Name):
        return
    name = node.func.id
    if name in ("min", "max"):
        other = "max" if name == "min" else "min"
        func = ast.Name(id=other, ctx=ast.Load())
        yield "min_max", f"{name} -> {other}", ast.Call(func=func, args=node.args, keywords=node.keywords)
    elif (
        name == "range"
        and 1 <= len(node.args) <= 3
        and not any(isinstance(a, ast.Starred) for a in node.args)
    ):
        stop = 0 if len(node.args) == 1 else 1
        bounds = [(stop, "stop", (1, -1))] + ([(0, "start", (1,))] if len(node.args) >= 2 else [])
        for pos, label, deltas in bounds:
            arg = node.args[pos]
            if _is_int(arg) or _is_negative_int(arg):
                continue  # the `constant` family already shifts literal bounds
            for delta in deltas:
                args = list(node.args)
                args[pos] = _shift(arg, delta)
                desc = f"range {label} {_src(arg)} -> {_src(args[pos])}"
                yield "range_bound", desc, ast.Call(func=node.func, args=args, keywords=node.keywords)


def _slice_mutations(node: ast.Slice) -> Iterator[tuple[str, str, ast.AST]]:
    for label in ("lower", "upper"):
        bound = getattr(node, label)
        if _is_int(bound) or _is_negative_int(bound):
            continue  # the `constant` family already shifts literal bounds
        if bound is None:
            new_bounds = [_const(1) if label == "lower" else ast.UnaryOp(op=ast.USub(), operand=_const(1))]
        else:
            new_bounds = [_shift(bound, 1), _shift(bound, -1)]
        for new in new_bounds:
            parts = {"lower": node.lower, "upper": node.upper, "step": node.step, label: new}
            old_text = _src(bound) if bound is not None else "(none)"
            yield "slice", f"slice {label} {old_text} -> {_src(new)}", ast.Slice(**parts)


def _is_docstring(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _first_line(node: ast.AST) -> str:
    text = ast.unparse(node).splitlines()[0]
    return text if len(text) <= 60 else text[:57] + "..."


def find_sites(tree: ast.Module, body: Sequence[int] | None = None) -> list[Site]:
    """Every mutation site of a parsed module, in a stable order (source order, then family).

    With `body`, only the top-level statements at those indices are searched.
    """
    collector = _Collector()
    if body is None:
        collector.walk(tree, None)
    else:
        for i in body:
            collector.visit(tree, "body", i, tree.body[i], None)
    return collector.sites
