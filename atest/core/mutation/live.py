"""Which top-level statements of a program can change what the task observes.

A gold solution often carries code the task never runs: LeetCode's header defines
`ListNode`, `TreeNode` and their helpers in front of every solution, and competitive
programmers keep unused helper functions around. Mutating such code yields mutants that
are equivalent by construction; they would inflate the survivor count and cost a full
run over every gold test each. So mutation sites are drawn only from *live* statements.

Live statements are found by name reachability over the module body. Roots: every
statement that is not a plain definition (it runs and may have effects), and for a
functional task the entry point (`class Solution` and/or the top-level `def fn_name`,
whichever the sandbox could call). For a stdio task top-level assignments are roots too,
since they are the program's main logic and may read input. Definitions (functions,
classes, imports and, for functional tasks, assignments to plain names) are live when a
live statement mentions a name they bind. The analysis is conservative: any mention of
a name counts, whatever scope it is in.
"""

from __future__ import annotations

import ast

SOLUTION_CLASS = "Solution"


def _bound_names(stmt: ast.stmt, kind: str) -> set[str] | None:
    """Names a definition-like statement binds, or None when the statement is a root."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {stmt.name}
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        names = {(alias.asname or alias.name).split(".")[0] for alias in stmt.names}
        return None if "*" in names else names
    if kind == "functional" and isinstance(stmt, (ast.Assign, ast.AnnAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        names: set[str] = set()
        for target in targets:
            elts = target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]
            if not all(isinstance(e, ast.Name) for e in elts):
                return None
            names.update(e.id for e in elts)  # type: ignore[attr-defined]
        return names
    return None


def _mentioned(stmt: ast.stmt) -> set[str]:
    return {node.id for node in ast.walk(stmt) if isinstance(node, ast.Name)}


def live_body(tree: ast.Module, kind: str, fn_name: str | None = None) -> list[int]:
    """Indices into `tree.body` of the statements that can affect the program's behaviour.

    For a functional task whose entry point is not found, every statement is live (the
    program would fail anyway, and then nothing is known about what it runs).
    """
    body = tree.body
    binds = [_bound_names(stmt, kind) for stmt in body]
    live = {i for i, names in enumerate(binds) if names is None}
    if kind == "functional":
        entries = {SOLUTION_CLASS, fn_name} if fn_name else {SOLUTION_CLASS}
        found = {
            i
            for i, stmt in enumerate(body)
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and stmt.name in entries
        }
        if not found:
            return list(range(len(body)))
        live |= found
    todo = list(live)
    while todo:
        names = _mentioned(body[todo.pop()])
        for i, bound in enumerate(binds):
            if i not in live and bound and bound & names:
                live.add(i)
                todo.append(i)
    return sorted(live)
