"""One corpus of programs every sandbox provider must judge identically.

Conventions (stdin newline rule, functional calls, the prelude, JSON encoding, the
"returned" check) and the bounded hostile programs whose verdict comes from a limit, not
from isolation: a provider without namespaces (subprocess) runs them safely too. Programs
that probe isolation (files, network, signals, fork bombs) are in the hostile suite of
tests/test_sandbox.py, which runs on the local and the Ray providers.
"""

from __future__ import annotations

from atest.core.sandbox import Job, Limits, Program, Status

FAST = Limits(cpu_seconds=0.5)
SHORT = Limits(cpu_seconds=0.2)

METHOD = "class Solution:\n    def add(self, a: List[int], k: int) -> List[int]:\n        return [x + k for x in a]\n"
FUNCTION = "def pair(a, b):\n    print('noise on stdout')\n    return (a, b)\n"


def stdio(source: str, stdin: str = "", limits: Limits = FAST) -> Job:
    return Job(Program(source, "stdio"), stdin, limits)


def functional(source: str, fn_name: str, args, limits: Limits = FAST) -> Job:
    return Job(Program(source, "functional", fn_name), args, limits)


CORPUS: list[tuple[str, Job, Status]] = [
    (
        "stdin idioms, newline added",
        stdio(
            "import sys\nfirst = sys.stdin.readline()[:-1]\nsecond = input()\nrest = sys.stdin.read()\n"
            "print(repr(first), repr(second), repr(rest))\n",
            "  a b  \nx\n\nlast",
        ),
        Status.OK,
    ),
    ("stdin buffer", stdio("import sys\nprint(sys.stdin.buffer.read())", "1 2\n"), Status.OK),
    ("sum", stdio("print(sum(map(int, input().split())))", "1 2 3"), Status.OK),
    ("method, positional", functional(METHOD, "add", [[1, 2], 3]), Status.OK),
    ("method, keywords", functional(METHOD, "add", {"a": [5], "k": 1}), Status.OK),
    ("function, tuple result", functional(FUNCTION, "pair", ["x", None]), Status.OK),
    ("set result", functional("def f(n):\n    return {n, 1, -n}", "f", [3]), Status.OK),
    ("missing function", functional(FUNCTION, "missing", []), Status.RUNTIME_ERROR),
    ("not JSON", functional("def f():\n    return object()", "f", []), Status.RUNTIME_ERROR),
    (
        "exits before returning",
        functional("import sys\nsys.exit(0)\ndef f(): return 1", "f", []),
        Status.RUNTIME_ERROR,
    ),
    ("prelude", stdio("print(pow(3, 200, 13), gcd(12, 18), Counter('aab')['a'], inf > 10**100)"), Status.OK),
    ("stderr only", stdio("import sys\nprint('warning', file=sys.stderr)\nprint(7)"), Status.OK),
    ("exit code", stdio("print(7)\nraise SystemExit(3)"), Status.RUNTIME_ERROR),
    ("exit message", stdio("raise SystemExit('bye')"), Status.RUNTIME_ERROR),
    ("syntax error", stdio("def f(:\n"), Status.RUNTIME_ERROR),
    ("exception", stdio("print(1/0)"), Status.RUNTIME_ERROR),
    (
        "atexit",
        stdio("import atexit\natexit.register(lambda: print('bye'))\nprint(input())\n", "4"),
        Status.OK,
    ),
    (
        "thread",
        stdio("import threading\nthreading.Thread(target=lambda: print(int(input()) * 2)).start()\n", "21"),
        Status.OK,
    ),
    ("os._exit", stdio("import os\nprint('x', flush=True)\nos._exit(0)"), Status.OK),
    ("infinite loop", stdio("while True: pass", limits=SHORT), Status.TIME_LIMIT),
    (
        "ignoring SIGTERM",
        stdio("import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True: pass", limits=SHORT),
        Status.TIME_LIMIT,
    ),
    ("sleeping", stdio("import time\ntime.sleep(60)", limits=SHORT), Status.TIME_LIMIT),
    ("allocating 50 GB", stdio("x = bytearray(50 * 10**9)"), Status.MEMORY_LIMIT),
    (
        "printing 1 GB",
        stdio(
            "import sys\nfor _ in range(100):\n    sys.stdout.write('x' * 10**7)\n",
            limits=Limits(cpu_seconds=2),
        ),
        Status.OUTPUT_LIMIT,
    ),
    ("deep recursion", stdio("def f(n): return f(n + 1)\nf(0)"), Status.RUNTIME_ERROR),
    ("exit before printing", stdio("import sys\nsys.exit(0)\nprint('never')"), Status.OK),
    ("closing stdout", stdio("import sys\nprint('a')\nsys.stdout.close()"), Status.OK),
    ("very long line", stdio("print('7' * 3_000_000)"), Status.OK),
]


def outcomes(results) -> list[tuple]:
    """What a verdict depends on: status, output, and a runtime error's exit code."""
    return [(r.status, r.output, r.exit_code if r.status is Status.RUNTIME_ERROR else None) for r in results]
