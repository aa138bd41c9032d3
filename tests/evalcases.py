"""A hand-built evaluation fixture shared by the bon, fidelity, attack-eval and filter tests.

Two stdio tasks with real programs; every figure the tests assert is worked out by hand
in the comments below. Model m1 has 4 candidates and m2 has 2 (on purpose: unequal pools).

Task A ("add", easy): gold tests G1 "1 2"->3, G2 "5 5"->10, G3 "-3 1"->-2.
  Generated: T0 "1 2"->3 (twice: a duplicate), T1 "0 0"->0, T2 "2 2"->5 (invalid: gold says 4).
  m1: c0 a+b          gen T0 T1    = 2  gold 3/3 correct
      c1 |a|+|b|      gen T0 T1    = 2  gold 2/3 (G3)
      c2 crashes      gen          = 0  gold 0
      c3 a+b+(a==b)   gen T0 T2    = 2  gold 2/3 (G2)
  m2: c0 a-b          gen T1       = 1  gold 0
      c1 sum(...)     gen T0 T1    = 2  gold 3/3 correct
Task B ("double", hard): gold tests "3"->6, "0"->0. Its tests row parsed nothing.
  m1: c0 2n correct, c1 n+2 (0/2), c2 n*n (1/2: "0"), c3 2n via sys.stdin correct
  m2: c0 n+n correct, c1 an infinite loop (time limit)
"""

from __future__ import annotations

import json
from pathlib import Path

ADD_GOLD = "a, b = map(int, input().split())\nprint(a + b)\n"
DOUBLE_GOLD = "n = int(input())\nprint(2 * n)\n"

TASK_A = {
    "task_id": "A",
    "question": "Read two integers and print their sum.",
    "kind": "stdio",
    "difficulty": "easy",
    "gold_solutions": [ADD_GOLD],
    "gold_tests": [
        {"input": "1 2\n", "output": "3\n"},
        {"input": "5 5\n", "output": "10\n"},
        {"input": "-3 1\n", "output": "-2\n"},
    ],
    "candidates": {
        "m1": [
            ADD_GOLD,
            "a, b = map(int, input().split())\nprint(abs(a) + abs(b))\n",
            "a, b = map(int, input().split())\nprint(a // 0)\n",
            "a, b = map(int, input().split())\nprint(a + b + 1 if a == b else a + b)\n",
        ],
        "m2": [
            "a, b = map(int, input().split())\nprint(a - b)\n",
            "print(sum(map(int, input().split())))\n",
        ],
    },
    "buggy_code": [
        "a, b = map(int, input().split())\nprint(abs(a) + abs(b))\n",
        "a, b = map(int, input().split())\nprint(a + b + 1 if a == b else a + b)\n",
    ],
}
TASK_B = {
    "task_id": "B",
    "question": "Read an integer n and print 2n.",
    "kind": "stdio",
    "difficulty": "hard",
    "gold_solutions": [DOUBLE_GOLD],
    "gold_tests": [{"input": "3\n", "output": "6\n"}, {"input": "0\n", "output": "0\n"}],
    "candidates": {
        "m1": [
            DOUBLE_GOLD,
            "n = int(input())\nprint(n + 2)\n",
            "n = int(input())\nprint(n * n)\n",
            "import sys\nprint(2 * int(sys.stdin.read()))\n",
        ],
        "m2": ["n = int(input())\nprint(n + n)\n", "while True:\n    pass\n"],
    },
    "buggy_code": ["n = int(input())\nprint(n + 2)\n"],
}

GENERATED = [
    {
        "task_id": "A",
        "tests": [
            {"input": "1 2\n", "output": "3\n"},
            {"input": "1 2\n", "output": "3\n"},
            {"input": "0 0\n", "output": "0\n"},
            {"input": "2 2\n", "output": "5\n"},
        ],
    },
    {"task_id": "B", "tests": []},
]

# ATGEN rows: (task, buggy code) -> one generated pair each.
#  r1 A bug0 "-1 2"->1   gold 1: accurate; bug gives 3: attack
#  r2 A bug1 "3 3"->7    gold 6: not accurate; bug gives 7 != 6: input attack only
#  r3 A bug0 "1 2"->3    accurate; bug gives 3: no attack
#  r4 B inline infinite loop, "4"->8: accurate; bug times out: attack
#  r5 B bug0 "x"->?      gold crashes: invalid input
#  r6 B bug0 no tests    parse failure
ATGEN_ROWS = [
    {"task_id": "A", "buggy_index": 0, "tests": [{"input": "-1 2\n", "output": "1\n"}]},
    {"task_id": "A", "buggy_index": 1, "tests": [{"input": "3 3\n", "output": "7\n"}]},
    {"task_id": "A", "buggy_index": 0, "tests": [{"input": "1 2\n", "output": "3\n"}]},
    {"task_id": "B", "buggy_code": "while True:\n    pass\n", "tests": [{"input": "4\n", "output": "8\n"}]},
    {"task_id": "B", "buggy_index": 0, "tests": [{"input": "x\n", "output": "0\n"}]},
    {"task_id": "B", "buggy_index": 0, "tests": []},
]

CPU = "0.5"  # keeps the infinite loop cheap


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_case(tmp: Path) -> tuple[Path, Path]:
    """The tasks file and the generated tests file."""
    return write_jsonl(tmp / "tasks.jsonl", [TASK_A, TASK_B]), write_jsonl(tmp / "tests.jsonl", GENERATED)
