"""The pure AST side of mutation: operators, rendering, determinism, derived probe inputs."""

from __future__ import annotations

import ast
import gzip
import json

import pytest
from shared_data import APPS, LEETCODE, needs_data

from atest.core.mutation import OPERATORS, derive_inputs, generate_mutants, iter_mutants

PROGRAM = """\
def solve(nums: list[int], k: int) -> int:
    # running best over windows
    best = 0
    for i in range(len(nums) - k + 1):
        s = sum(nums[i:i + k])
        if s > best and k >= 1:
            best = max(best, s)
        if s == 99:
            break
    return best
"""


def _descriptions(source: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for m in iter_mutants(source):
        out.setdefault(m.operator, []).append(m.description)
    return out


def test_every_family_finds_its_sites():
    found = _descriptions(PROGRAM)
    assert set(found) == set(OPERATORS)
    assert "- -> +" in found["arith"] and "+ -> -" in found["arith"]
    assert {"> -> >=", "> -> <=", ">= -> >", "== -> !="} <= set(found["compare"])
    assert {"0 -> 1", "0 -> -1", "99 -> 100"} <= set(found["constant"])
    assert set(found["range_bound"]) == {
        "range stop len(nums) - k + 1 -> len(nums) - k + 1 + 1",
        "range stop len(nums) - k + 1 -> len(nums) - k + 1 - 1",
    }
    assert "and -> or" in found["boolean"]
    assert "condition `s == 99` negated" in found["boolean"]
    assert set(found["loop_control"]) == {"break -> continue", "break removed"}
    assert found["min_max"] == ["max -> min"]
    assert "slice upper i + k -> i + k - 1" in found["slice"]
    assert "slice lower i -> i + 1" in found["slice"]
    assert found["return_value"] == ["return best -> return 0"]
    assert "removed `best = max(best, s)`" in found["remove_statement"]


def test_mutant_keeps_comments_and_layout_outside_the_change():
    mutant = next(m for m in iter_mutants(PROGRAM) if m.description == "max -> min")
    original = PROGRAM.splitlines()
    changed = mutant.source.splitlines()
    assert len(changed) == len(original)
    diff = [i for i, (a, b) in enumerate(zip(original, changed, strict=True)) if a != b]
    assert diff == [6]
    assert changed[6] == "            best = min(best, s)"
    assert (mutant.line, mutant.col) == (7, 20)
    assert "# running best over windows" in mutant.source


def test_precedence_is_kept_by_parenthesizing():
    source = "def f(a, b, c):\n    return a - b * c\n"
    mutant = next(m for m in iter_mutants(source) if m.description == "* -> +")
    assert mutant.source == "def f(a, b, c):\n    return a - (b + c)\n"
    env: dict = {}
    exec(mutant.source, env)
    assert env["f"](10, 2, 3) == 5


def test_every_mutant_compiles_differs_and_is_unique():
    trees = {ast.dump(ast.parse(PROGRAM))}
    for m in iter_mutants(PROGRAM):
        compile(m.source, "<m>", "exec")
        dump = ast.dump(ast.parse(m.source))
        assert dump not in trees, m.description
        trees.add(dump)
    assert len(trees) > 25


def test_same_seed_same_mutants_other_seed_other_order():
    first = generate_mutants(PROGRAM, 10, seed=3)
    assert first == generate_mutants(PROGRAM, 10, seed=3)
    assert [m.source for m in first] != [m.source for m in generate_mutants(PROGRAM, 10, seed=4)]
    assert len({m.operator for m in first}) == len(OPERATORS)  # round-robin over families


def test_k_bounds():
    assert generate_mutants(PROGRAM, 0) == []
    assert len(generate_mutants(PROGRAM, 5)) == 5
    assert generate_mutants("def f(x):\n    pass\n", 50) == []
    assert [m.description for m in generate_mutants("def f(x):\n    return x\n", 50)] == [
        "return x -> return None"
    ]
    assert [m.description for m in generate_mutants("def f(x) -> int:\n    return x\n", 50)] == [
        "return x -> return 0"
    ]
    with pytest.raises(ValueError):
        generate_mutants(PROGRAM, -1)
    with pytest.raises(SyntaxError):
        generate_mutants("def f(:\n", 3)


def test_columns_count_characters_not_bytes():
    source = 's = "ééé"; n = 1 + 2\n'
    mutant = next(m for m in iter_mutants(source) if m.description == "+ -> -")
    assert mutant.source == 's = "ééé"; n = 1 - 2\n'
    assert mutant.col == source.index("1 + 2") + 1


def test_stdio_program_and_fstrings():
    source = "n = int(input())\nprint(f'{n * 2}')\n"
    found = _descriptions(source)
    assert "* -> +" in found["arith"]
    mutant = next(m for m in iter_mutants(source) if m.description == "* -> +")
    env: dict = {"input": lambda: "5", "print": lambda s: env.setdefault("out", s)}
    exec(mutant.source, env)
    assert env["out"] == "7"


def _leetcode_rows() -> list[dict]:
    with gzip.open(LEETCODE, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


@needs_data
def test_every_leetcode_gold_solution_yields_mutants():
    counts = [len(generate_mutants(row["completion"], 20)) for row in _leetcode_rows()]
    assert len(counts) == 228
    assert min(counts) >= 1
    assert sum(c == 20 for c in counts) >= 180


@needs_data
def test_every_apps_gold_solution_yields_mutants():
    for folder in sorted(p for p in APPS.iterdir() if p.is_dir()):
        solutions = json.loads((folder / "solutions.json").read_text())
        assert len(generate_mutants(solutions[0], 20)) >= 10, folder.name


def test_derived_inputs_keep_shape_and_ranges():
    inputs = [[[3, 1, 2], 2, "abc"], [[5, 4, 9, 1], 3, "zz"], [[7, 7], 1, "q"]]
    derived = derive_inputs(inputs, 20, seed=0)
    assert derived == derive_inputs(inputs, 20, seed=0)
    assert len(derived) == 20
    keys = {json.dumps(x) for x in inputs}
    for value in derived:
        assert json.dumps(value) not in keys
        assert len(value) == 3 and isinstance(value[0], list) and isinstance(value[2], str)
        assert all(1 <= x <= 9 for x in value[0]) and 1 <= value[1] <= 3
        assert len(value[2]) in (1, 2, 3) and len(value[0]) in (2, 3, 4)


def test_derived_inputs_for_keyword_arguments_and_degenerate_cases():
    derived = derive_inputs([{"n": 4, "s": "ab"}, {"n": 6, "s": "ba"}], 5, seed=1)
    assert derived and all(set(d) == {"n", "s"} and 4 <= d["n"] <= 6 for d in derived)
    assert derive_inputs([], 5) == []
    assert derive_inputs([[1]], 0) == []
    assert derive_inputs([[None]], 5) == []  # nothing perturbable
