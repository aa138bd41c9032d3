"""Families of easy programming tasks, each a parameterised problem with its bugs.

A family is one idea ("count the numbers divisible by K") that yields many instances by its
parameters (K, the wording's numbers, the inputs). Each instance carries a gold program, the
inputs of its gold tests and a few hand-written buggy programs, each a mistake a person makes
on that problem (an off-by-one bound, a strict comparison for a loose one, a sign dropped).
The expected outputs are not written here: `build.py` runs the gold program in the sandbox to
get them, and keeps a bug only if some gold test tells it from the gold program.

The families are deliberately within a small model's arithmetic: one loop, one comparison,
one formula. They exist so that a held-out split can be made *by family*, i.e. of problems
whose idea the trained model never saw; the split by instance (same idea, other parameters)
stands beside it. A family name and its ideas are this project's own.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Instance:
    """One task of a family, before its outputs are computed."""

    question: str
    gold: str
    bugs: list[str]
    inputs: list[Any]  # stdio: text on stdin; functional: a JSON list of positional arguments
    params: str  # the parameters that make this instance, for its task id


@dataclass(frozen=True)
class Family:
    name: str
    kind: str  # "stdio" or "functional"
    fn_name: str | None
    make: Callable[[random.Random], Instance]
    summary: str


def _ints(rng: random.Random, n: int, lo: int = -20, hi: int = 20) -> list[int]:
    return [rng.randint(lo, hi) for _ in range(n)]


def _list_input(xs: list[int]) -> str:
    return f"{len(xs)}\n{' '.join(map(str, xs))}\n"


def _list_inputs(rng: random.Random, lo: int = -20, hi: int = 20, extra: list[list[int]] = ()) -> list[str]:
    lists = [_ints(rng, rng.randint(1, 7), lo, hi) for _ in range(5)] + list(extra)
    return [_list_input(xs) for xs in lists]


_READ_LIST = "n = int(input())\nxs = list(map(int, input().split()))\n"
_WORDS = ["apple", "banana", "level", "racecar", "python", "code", "noon", "test", "hello", "abc",
          "rotor", "kayak", "stats", "moon", "tree", "a", "zz", "abba", "queue", "mississippi"]  # fmt: skip


def _word_inputs(rng: random.Random, k: int = 6) -> list[str]:
    return [w + "\n" for w in rng.sample(_WORDS, k)]


# ---- stdio families ---------------------------------------------------------------------------


def affine(rng: random.Random) -> Instance:
    a, b = rng.randint(2, 9), rng.randint(1, 9)
    gold = f"x = int(input())\nprint({a} * x + {b})\n"
    bugs = [
        f"x = int(input())\nprint({a} * x - {b})\n",
        f"x = int(input())\nprint({a} * abs(x) + {b})\n",
        f"x = int(input())\nprint({a} * x + {b} if x != 0 else {b + 1})\n",
        f"x = int(input())\nprint({a} * (x + {b}))\n",
    ]
    inputs = [f"{x}\n" for x in [0, 1, -1, *_ints(rng, 3, -50, 50)]]
    return Instance(f"Read an integer x and print {a} * x + {b}.", gold, bugs, inputs, f"a{a}b{b}")


def two_ops(rng: random.Random) -> Instance:
    name, expr, wrong = rng.choice(
        [
            ("the sum a + b", "a + b", ["abs(a) + b", "a - b if b < 0 else a + b", "a + abs(b)"]),
            ("the difference a - b", "a - b", ["b - a", "abs(a - b)", "a + b if b < 0 else a - b"]),
            ("the product a * b", "a * b", ["abs(a * b)", "a * abs(b)", "a * b if a > 0 else -a * b"]),
            ("the larger of a and b", "max(a, b)", ["a", "max(a, b) if a > 0 else b", "min(a, b)"]),
            (
                "the smaller of a and b",
                "min(a, b)",
                ["b", "min(abs(a), b)", "max(a, b) if a < -5 else min(a, b)"],
            ),
            ("the absolute difference |a - b|", "abs(a - b)", ["a - b", "abs(a) - abs(b)", "abs(a + b)"]),
        ]
    )
    head = "a, b = map(int, input().split())\n"
    inputs = [f"{a} {b}\n" for a, b in [(3, 5), (-4, 2), (0, 0), (7, -7)]]
    inputs += [f"{rng.randint(-30, 30)} {rng.randint(-30, 30)}\n" for _ in range(3)]
    return Instance(
        f"Read two integers a and b on one line and print {name}.",
        head + f"print({expr})\n",
        [head + f"print({w})\n" for w in wrong],
        inputs,
        expr.replace(" ", ""),
    )


def count_divisible(rng: random.Random) -> Instance:
    k = rng.randint(2, 7)
    gold = _READ_LIST + f"print(sum(1 for x in xs if x % {k} == 0))\n"
    bugs = [
        _READ_LIST + f"print(sum(1 for x in xs if x % {k} == 0 and x > 0))\n",
        _READ_LIST + f"print(sum(1 for x in xs[1:] if x % {k} == 0))\n",
        _READ_LIST + f"print(sum(1 for x in xs if x % {k} == 1))\n",
        _READ_LIST + f"print(sum(1 for x in xs if x % {k + 1} == 0))\n",
    ]
    inputs = _list_inputs(rng, extra=[[k, 2 * k, -k, 0], [1]])
    q = (f"Read an integer n, then n integers on the next line. Print how many of them are "
         f"divisible by {k}.")  # fmt: skip
    return Instance(q, gold, bugs, inputs, f"k{k}")


def sum_above(rng: random.Random) -> Instance:
    t = rng.randint(-3, 8)
    gold = _READ_LIST + f"print(sum(x for x in xs if x > {t}))\n"
    bugs = [
        _READ_LIST + f"print(sum(x for x in xs if x >= {t}))\n",
        _READ_LIST + f"print(sum(x for x in xs[:-1] if x > {t}))\n",
        _READ_LIST + f"print(sum(abs(x) for x in xs if x > {t}))\n",
        _READ_LIST + f"print(sum(x for x in xs if x > {t + 1}))\n",
    ]
    inputs = _list_inputs(rng, extra=[[t, t + 1, t - 1], [t]])
    q = (f"Read an integer n, then n integers on the next line. Print the sum of those that are "
         f"greater than {t} (0 if there are none).")  # fmt: skip
    return Instance(q, gold, bugs, inputs, f"t{t}")


def extreme(rng: random.Random) -> Instance:
    what, expr, wrong = rng.choice(
        [
            ("the largest of them", "max(xs)", ["max(xs[:-1] or xs)", "max(xs[1:] or xs)", "max(0, max(xs))", "min(xs)"]),
            ("the smallest of them", "min(xs)", ["min(xs[:-1] or xs)", "min(xs[1:] or xs)", "min(0, min(xs))", "max(xs)"]),
            ("the largest minus the smallest", "max(xs) - min(xs)", ["max(xs) - min(xs[1:] or xs)", "max(xs) + min(xs)", "xs[-1] - xs[0]"]),
            ("the sum of the largest and the smallest", "max(xs) + min(xs)", ["max(xs) + xs[0]", "2 * max(xs)", "max(xs[:-1] or xs) + min(xs)"]),
            ("the position (counting from 1) of the largest (the first one if it occurs twice)", "xs.index(max(xs)) + 1",
             ["xs.index(max(xs))", "len(xs) - xs[::-1].index(max(xs))", "xs.index(min(xs)) + 1"]),
        ]
    )  # fmt: skip
    inputs = _list_inputs(rng, extra=[[-5, -2, -9], [4, 1, 9], [9, 1, 9]])
    q = f"Read an integer n, then n integers on the next line. Print {what}."
    return Instance(
        q,
        _READ_LIST + f"print({expr})\n",
        [_READ_LIST + f"print({b})\n" for b in wrong],
        inputs,
        str(len(expr)) + expr[:3],
    )


def count_even(rng: random.Random) -> Instance:
    what, cond, wrong = rng.choice(
        [
            ("even", "x % 2 == 0", ["x % 2 == 1", "x % 2 == 0 and x >= 0", "x % 2 == 0 and x != 0"]),
            ("odd", "x % 2 == 1", ["x % 2 == 0", "x % 2 == 1 and x > 0", "abs(x) % 2 == 1 and x > -5"]),
            ("negative", "x < 0", ["x <= 0", "x < -1", "x > 0"]),
            ("positive", "x > 0", ["x >= 0", "x > 1", "x != 0"]),
            ("equal to zero", "x == 0", ["x <= 0", "not x > 0", "x == 0 and xs[0] != 0"]),
        ]
    )  # fmt: skip
    gold = _READ_LIST + f"print(sum(1 for x in xs if {cond}))\n"
    bugs = [_READ_LIST + f"print(sum(1 for x in xs if {w}))\n" for w in wrong]
    bugs.append(_READ_LIST + f"print(sum(1 for x in xs[:n - 1] if {cond}))\n")
    inputs = _list_inputs(rng, extra=[[0, -2, -3], [1, 3, 5], [2], [0, 0, -1]])
    q = f"Read an integer n, then n integers on the next line. Print how many of them are {what}."
    return Instance(q, gold, bugs, inputs, what.split()[0])


def reverse_word(rng: random.Random) -> Instance:
    what, expr, wrong = rng.choice(
        [
            ("the word reversed", "w[::-1]", ["w[1:][::-1]", "w[::-1] if len(w) < 5 else w", "w[-2::-1]"]),
            ("the word in upper case", "w.upper()", ["w.capitalize()", "w[:-1].upper() + w[-1]", "w.upper() if len(w) > 3 else w"]),
            ("the word with its first letter in upper case", "w[0].upper() + w[1:]", ["w.upper()", "w", "w[0].upper() + w[2:]"]),
            ("the first and the last letter of the word", "w[0] + w[-1]", ["w[0] + w[-2]", "w[:2]", "w[-1] + w[0]"]),
            ("the word without its vowels (a, e, i, o, u)", "''.join(c for c in w if c not in 'aeiou')",
             ["''.join(c for c in w if c not in 'aeio')", "''.join(c for c in w[1:] if c not in 'aeiou')", "w.replace('a', '')"]),
        ]
    )  # fmt: skip
    head = "w = input().strip()\n"
    return Instance(
        f"Read a word of lowercase letters and print {what}.",
        head + f"print({expr})\n",
        [head + f"print({b})\n" for b in wrong],
        _word_inputs(rng),
        what.split()[1] + str(len(expr)),
    )


def count_letter(rng: random.Random) -> Instance:
    c = rng.choice("aeilnorst")
    head = "s = input().strip()\n"
    gold = head + f"print(s.count('{c}'))\n"
    bugs = [
        head + f"print(s[:-1].count('{c}'))\n",
        head + f"print(s[1:].count('{c}'))\n",
        head + f"print(1 if '{c}' in s else 0)\n",
        head + f"print(s.count('{c}{c}') + s.count('{c}'))\n",
    ]
    words = [*_word_inputs(rng, 5), f"{c}{c}x{c}\n", f"x{c}\n"]
    q = f"Read a word of lowercase letters and print how many times the letter '{c}' occurs in it."
    return Instance(q, gold, bugs, words, c)


def classify_sign(rng: random.Random) -> Instance:
    pos, neg, zero = rng.choice([("POSITIVE", "NEGATIVE", "ZERO"), ("UP", "DOWN", "FLAT"), ("P", "N", "Z")])
    head = "x = int(input())\n"
    gold = head + f"print('{pos}' if x > 0 else '{neg}' if x < 0 else '{zero}')\n"
    bugs = [
        head + f"print('{pos}' if x >= 0 else '{neg}')\n",
        head + f"print('{pos}' if x > 0 else '{zero}' if x < 0 else '{neg}')\n",
        head + f"print('{pos}' if x > 1 else '{neg}' if x < 0 else '{zero}')\n",
        head + f"print('{neg}' if x < -1 else '{pos}' if x > 0 else '{zero}')\n",
    ]
    inputs = [f"{x}\n" for x in [5, -3, 0, 1, -1, rng.randint(2, 99)]]
    q = f"Read an integer x. Print {pos} if x > 0, {neg} if x < 0 and {zero} if x = 0."
    return Instance(q, gold, bugs, inputs, pos)


def divisible_yes(rng: random.Random) -> Instance:
    k = rng.randint(2, 9)
    head = "x = int(input())\n"
    gold = head + f"print('YES' if x % {k} == 0 else 'NO')\n"
    bugs = [
        head + f"print('YES' if x % {k} == 0 and x > 0 else 'NO')\n",
        head + f"print('YES' if x % {k} == 1 else 'NO')\n",
        head + f"print('YES' if x % {k + 1} == 0 else 'NO')\n",
        head + f"print('YES' if x > {k} and x % {k} == 0 else 'NO')\n",
    ]
    inputs = [f"{x}\n" for x in [0, k, -k, k + 1, 1, rng.randint(10, 99) * k]]
    return Instance(
        f"Read an integer x. Print YES if x is divisible by {k}, otherwise NO.", gold, bugs, inputs, f"k{k}"
    )


def range_sum(rng: random.Random) -> Instance:
    what, expr, wrong = rng.choice(
        [
            ("1 + 2 + ... + n", "sum(range(1, n + 1))", ["sum(range(n))", "sum(range(1, n))", "n * (n - 1) // 2 + 1"]),
            ("1*1 + 2*2 + ... + n*n", "sum(i * i for i in range(1, n + 1))", ["sum(i * i for i in range(n))", "sum(i * 2 for i in range(1, n + 1))", "n * n"]),
            ("2 + 4 + ... + 2n", "sum(2 * i for i in range(1, n + 1))", ["sum(range(0, 2 * n, 2))", "n * n", "sum(2 * i for i in range(n))"]),
            ("the product 1 * 2 * ... * n (1 for n = 0)", "__import__('math').factorial(n)",
             ["__import__('math').factorial(n - 1) if n else 1", "n * (n - 1) if n > 1 else 1", "__import__('math').factorial(n) if n < 5 else n ** 2"]),
        ]
    )  # fmt: skip
    head = "n = int(input())\n"
    inputs = [f"{n}\n" for n in [0, 1, 2, 5, rng.randint(6, 10), rng.randint(3, 12)]]
    return Instance(
        f"Read an integer n (0 <= n <= 12) and print {what}.",
        head + f"print({expr})\n",
        [head + f"print({b})\n" for b in wrong],
        inputs,
        str(len(expr)) + what[:3].strip(),
    )


def digit_sum(rng: random.Random) -> Instance:
    what, expr, wrong = rng.choice(
        [
            ("the sum of its digits", "sum(int(c) for c in s)", ["sum(int(c) for c in s[:-1])", "len(s)", "sum(int(c) for c in s[1:])"]),
            ("the number of its digits", "len(s)", ["len(s) - 1", "len(s.strip('0')) or 1", "len(set(s))"]),
            ("its last digit", "s[-1]", ["s[0]", "s[-2] if len(s) > 1 else s", "int(s) // 10"]),
            ("how many of its digits are even", "sum(1 for c in s if int(c) % 2 == 0)",
             ["sum(1 for c in s if int(c) % 2 == 1)", "sum(1 for c in s if int(c) % 2 == 0 and c != '0')", "sum(1 for c in s[1:] if int(c) % 2 == 0)"]),
            ("the largest of its digits", "max(s)", ["s[0]", "min(s)", "max(s[:-1] or s)"]),
        ]
    )  # fmt: skip
    head = "s = input().strip()\n"
    inputs = [f"{x}\n" for x in [0, 7, 10, 905, rng.randint(100, 99999), rng.randint(10, 999)]]
    return Instance(
        f"Read a non-negative integer and print {what}.",
        head + f"print({expr})\n",
        [head + f"print({b})\n" for b in wrong],
        inputs,
        what.split()[-1] + str(len(expr)),
    )


def palindrome(rng: random.Random) -> Instance:
    yes, no = rng.choice([("YES", "NO"), ("True", "False"), ("PALINDROME", "NOT")])
    head = "w = input().strip()\n"
    gold = head + f"print('{yes}' if w == w[::-1] else '{no}')\n"
    bugs = [
        head + f"print('{yes}' if w[0] == w[-1] else '{no}')\n",
        head + f"print('{yes}' if w[1:] == w[1:][::-1] else '{no}')\n",
        head + f"print('{yes}' if len(w) % 2 == 1 and w == w[::-1] else '{no}')\n",
        head + f"print('{yes}' if w[:2] == w[-2:][::-1] else '{no}')\n",
    ]
    inputs = [*_word_inputs(rng, 5), "abca\n", "abba\n"]
    q = f"Read a word of lowercase letters. Print {yes} if it reads the same backwards, otherwise {no}."
    return Instance(q, gold, bugs, inputs, yes)


def threshold(rng: random.Random) -> Instance:
    t = rng.randint(40, 70)
    ok, bad = rng.choice([("PASS", "FAIL"), ("ADULT", "MINOR"), ("HIGH", "LOW")])
    head = "x = int(input())\n"
    gold = head + f"print('{ok}' if x >= {t} else '{bad}')\n"
    bugs = [
        head + f"print('{ok}' if x > {t} else '{bad}')\n",
        head + f"print('{ok}' if x >= {t + 1} else '{bad}')\n",
        head + f"print('{bad}' if x >= {t} else '{ok}')\n",
        head + f"print('{ok}' if x >= {t} and x < 100 else '{bad}')\n",
    ]
    inputs = [f"{x}\n" for x in [t, t - 1, t + 1, 0, 100, rng.randint(0, 150)]]
    q = f"Read an integer x (0 <= x <= 200). Print {ok} if x is at least {t}, otherwise {bad}."
    return Instance(q, gold, bugs, inputs, f"t{t}{ok}")


def middle_of_three(rng: random.Random) -> Instance:
    what, expr, wrong = rng.choice(
        [
            ("the middle one (the median) of the three", "sorted([a, b, c])[1]", ["b", "sorted([a, b, c])[0]", "(a + b + c) // 3"]),
            ("the smallest of the three", "min(a, b, c)", ["min(a, b)", "a", "min(a, c)"]),
            ("the sum of the two largest", "a + b + c - min(a, b, c)", ["a + b", "max(a, b, c) * 2", "a + b + c - max(a, b, c)"]),
        ]
    )  # fmt: skip
    head = "a, b, c = map(int, input().split())\n"
    inputs = [f"{a} {b} {c}\n" for a, b, c in [(1, 2, 3), (3, 2, 1), (2, 3, 1), (5, 5, 1), (-1, -7, 4)]]
    inputs.append(" ".join(str(rng.randint(-20, 20)) for _ in range(3)) + "\n")
    return Instance(
        f"Read three integers a, b and c on one line and print {what}.",
        head + f"print({expr})\n",
        [head + f"print({b})\n" for b in wrong],
        inputs,
        what.split()[1],
    )


def repeat_word(rng: random.Random) -> Instance:
    sep_name, sep = rng.choice(
        [("without spaces", ""), ("separated by single spaces", " "), ("separated by dashes", "-")]
    )
    head = "w, k = input().split()\nk = int(k)\n"
    gold = head + f"print({sep!r}.join([w] * k))\n"
    bugs = [
        head + f"print({sep!r}.join([w] * (k - 1)))\n",
        head + f"print({sep!r}.join([w] * k) + {sep!r})\n"
        if sep
        else head + "print(w * k if k > 1 else w + w)\n",
        head + f"print({sep!r}.join([w] * min(k, 3)))\n",
    ]
    inputs = [
        f"{w} {k}\n"
        for w, k in [("ab", 1), ("x", 3), ("hi", 2), ("cat", 4), (rng.choice(_WORDS), rng.randint(1, 6))]
    ]
    q = f"Read a word w and an integer k (1 <= k <= 9) on one line. Print w repeated k times, {sep_name}."
    return Instance(q, gold, bugs, inputs, sep_name.split()[0])


def gcd_lcm(rng: random.Random) -> Instance:
    what, expr, wrong = rng.choice(
        [
            ("their greatest common divisor", "__import__('math').gcd(a, b)", ["min(a, b)", "__import__('math').gcd(a, b - 1) if b > 1 else 1", "a % b if a % b else b"]),
            ("their least common multiple", "a * b // __import__('math').gcd(a, b)", ["a * b", "max(a, b)", "a * b // min(a, b)"]),
            ("the remainder of a divided by b", "a % b", ["b % a", "a % b if a > b else a - b", "(a - 1) % b"]),
            ("a divided by b, rounded down", "a // b", ["round(a / b)", "a // b + (a % b > 0)", "b // a"]),
            ("a divided by b, rounded up", "-(-a // b)", ["a // b", "a // b + 1", "round(a / b)"]),
        ]
    )  # fmt: skip
    head = "a, b = map(int, input().split())\n"
    inputs = [
        f"{a} {b}\n"
        for a, b in [(4, 6), (7, 7), (1, 5), (12, 18), (9, 4), (rng.randint(1, 30), rng.randint(1, 30))]
    ]
    return Instance(
        f"Read two positive integers a and b (1 <= a, b <= 100) and print {what}.",
        head + f"print({expr})\n",
        [head + f"print({b})\n" for b in wrong],
        inputs,
        what.split()[1],
    )


def clamp(rng: random.Random) -> Instance:
    lo = rng.randint(-10, 5)
    hi = lo + rng.randint(3, 15)
    head = "x = int(input())\n"
    gold = head + f"print(min(max(x, {lo}), {hi}))\n"
    bugs = [
        head + f"print(max(min(x, {lo}), {hi}))\n",
        head + f"print(min(x, {hi}))\n",
        head + f"print(max(x, {lo}))\n",
        head + f"print({lo} if x < {lo} else {hi} if x >= {hi - 1} else x)\n",
    ]
    inputs = [f"{x}\n" for x in [lo - 5, lo, hi, hi + 3, (lo + hi) // 2, hi - 1]]
    q = (f"Read an integer x. Print x if {lo} <= x <= {hi}; print {lo} if x is smaller than {lo} "
         f"and {hi} if x is larger than {hi}.")  # fmt: skip
    return Instance(q, gold, bugs, inputs, f"{lo}_{hi}")


def find_letter(rng: random.Random) -> Instance:
    c = rng.choice("aeiost")
    head = "s = input().strip()\n"
    gold = head + f"print(s.find('{c}'))\n"
    bugs = [
        head + f"print(s.find('{c}') + 1)\n",
        head + f"print(s.rfind('{c}'))\n",
        head + f"print(max(s.find('{c}'), 0))\n",
        head + f"print(s[1:].find('{c}') + 1 if '{c}' in s[1:] else -1)\n",
    ]
    inputs = [*_word_inputs(rng, 4), f"{c}xx{c}\n", "xyz\n", f"b{c}\n"]
    q = (f"Read a word of lowercase letters. Print the position (counting from 0) of the first '{c}' "
         f"in it, or -1 if there is none.")  # fmt: skip
    return Instance(q, gold, bugs, inputs, c)


def count_up(rng: random.Random) -> Instance:
    what, expr, wrong = rng.choice(
        [
            ("the numbers 1, 2, ..., n, one per line", "range(1, n + 1)", ["range(n)", "range(1, n)", "range(2, n + 1)"]),
            ("the numbers n, n - 1, ..., 1, one per line", "range(n, 0, -1)", ["range(n, -1, -1)", "range(n - 1, 0, -1)", "range(1, n + 1)"]),
            ("the even numbers from 2 to 2n, one per line", "range(2, 2 * n + 1, 2)", ["range(0, 2 * n, 2)", "range(2, 2 * n, 2)", "range(1, 2 * n + 1, 2)"]),
        ]
    )  # fmt: skip
    head = "n = int(input())\n"
    inputs = [f"{n}\n" for n in [1, 2, 3, 5, rng.randint(4, 9)]]
    return Instance(
        f"Read an integer n (1 <= n <= 20) and print {what}.",
        head + f"for i in {expr}:\n    print(i)\n",
        [head + f"for i in {b}:\n    print(i)\n" for b in wrong],
        inputs,
        expr.replace(" ", ""),
    )


def count_words(rng: random.Random) -> Instance:
    what, expr, wrong = rng.choice(
        [
            ("the number of words in it", "len(s.split())", ["s.count(' ') + 1", "len(s.split()) - 1", "len(set(s.split()))"]),
            ("its longest word (the first one if several are equally long)", "max(s.split(), key=len)",
             ["max(s.split())", "sorted(s.split(), key=len)[-1]", "s.split()[0]"]),
            ("its words in reverse order, separated by single spaces", "' '.join(s.split()[::-1])",
             ["' '.join(s.split()[1:][::-1])", "s[::-1]", "' '.join(sorted(s.split()))"]),
        ]
    )  # fmt: skip
    head = "s = input()\n"
    lines = ["the cat sat", "hello world", "a bb ccc dd e", "one", "aaa bb aaa", "xy  z   w"]
    rng.shuffle(lines)
    return Instance(
        f"Read a line of lowercase words separated by spaces and print {what}.",
        head + f"print({expr})\n",
        [head + f"print({b})\n" for b in wrong],
        [line + "\n" for line in lines],
        what.split()[1] + str(len(expr)),
    )


# ---- functional families ----------------------------------------------------------------------


def _fn(name: str, args: str, body: str) -> str:
    return f"def {name}({args}):\n" + "".join(f"    {line}\n" for line in body.splitlines())


def fn_count_greater(rng: random.Random) -> Instance:
    t = rng.randint(-2, 6)
    name = "count_greater"
    gold = _fn(name, "nums", f"return sum(1 for x in nums if x > {t})")
    bugs = [
        _fn(name, "nums", f"return sum(1 for x in nums if x >= {t})"),
        _fn(name, "nums", f"return sum(1 for x in nums[1:] if x > {t})"),
        _fn(name, "nums", f"return len([x for x in nums if x > {t + 1}])"),
    ]
    lists = [_ints(rng, rng.randint(0, 6), -5, 10) for _ in range(4)] + [[t, t + 1], [t - 1]]
    q = f"Write a function {name}(nums) that returns how many numbers in the list nums are greater than {t}."
    return Instance(q, gold, bugs, [[xs] for xs in lists], f"t{t}")


def fn_sum_list(rng: random.Random) -> Instance:
    what, body, wrong, name = rng.choice(
        [
            ("the sum of the even numbers in the list nums", "return sum(x for x in nums if x % 2 == 0)",
             ["return sum(x for x in nums if x % 2 == 1)", "return sum(x for x in nums[:-1] if x % 2 == 0)", "return sum(1 for x in nums if x % 2 == 0)"], "sum_even"),
            ("the sum of the squares of the numbers in the list nums", "return sum(x * x for x in nums)",
             ["return sum(x * 2 for x in nums)", "return sum(x for x in nums) ** 2", "return sum(x * x for x in nums if x > 0)"], "sum_squares"),
            ("the product of the numbers in the list nums (1 for an empty list)", "p = 1\nfor x in nums:\n    p *= x\nreturn p",
             ["p = 0\nfor x in nums:\n    p *= x\nreturn p", "p = 1\nfor x in nums[1:]:\n    p *= x\nreturn p", "p = 1\nfor x in nums:\n    p *= abs(x)\nreturn p"], "product"),
        ]
    )  # fmt: skip
    lists = [_ints(rng, rng.randint(1, 5), -6, 9) for _ in range(4)] + [[], [-3, 2]]
    return Instance(
        f"Write a function {name}(nums) that returns {what}.",
        _fn(name, "nums", body),
        [_fn(name, "nums", b) for b in wrong],
        [[xs] for xs in lists],
        name,
    )


def fn_is_sorted(rng: random.Random) -> Instance:
    order, op = rng.choice([("non-decreasing", "<="), ("non-increasing", ">=")])
    strict = "<" if op == "<=" else ">"
    name = "is_sorted" if op == "<=" else "is_descending"
    gold = _fn(name, "nums", f"return all(a {op} b for a, b in zip(nums, nums[1:]))")
    bugs = [
        _fn(name, "nums", f"return all(a {strict} b for a, b in zip(nums, nums[1:]))"),
        _fn(name, "nums", f"return nums[0] {op} nums[-1]"),
        _fn(name, "nums", f"return all(a {op} b for a, b in zip(nums[1:], nums[2:]))"),
    ]
    lists = [[1, 2, 2, 3], [3, 2, 2, 1], [5], [2, 1, 3], [1, 3, 2], sorted(_ints(rng, 4, 0, 9))]
    q = f"Write a function {name}(nums) that returns True if the non-empty list nums is in {order} order, otherwise False."
    return Instance(q, gold, bugs, [[xs] for xs in lists], name)


def fn_string(rng: random.Random) -> Instance:
    what, body, wrong, name = rng.choice(
        [
            ("the number of vowels (a, e, i, o, u) in the lowercase string s", "return sum(1 for c in s if c in 'aeiou')",
             ["return sum(1 for c in s if c in 'aeio')", "return sum(1 for c in s if c in 'aeiouy')", "return sum(1 for c in s[1:] if c in 'aeiou')"], "count_vowels"),
            ("s with every space replaced by an underscore", "return s.replace(' ', '_')",
             ["return s.replace(' ', '_', 1)", "return s.replace(' ', '')", "return s.strip().replace(' ', '_')"], "underscore"),
            ("True if the string s contains the same letter twice in a row, otherwise False", "return any(a == b for a, b in zip(s, s[1:]))",
             ["return len(set(s)) < len(s)", "return any(a == b for a, b in zip(s, s[2:]))", "return s[0] == s[1] if len(s) > 1 else False"], "has_double"),
        ]
    )  # fmt: skip
    words = [*rng.sample(_WORDS, 4), "a b  c", " x y", "aab"]
    return Instance(
        f"Write a function {name}(s) that returns {what}.",
        _fn(name, "s", body),
        [_fn(name, "s", b) for b in wrong],
        [[w] for w in words],
        name,
    )


def _family(
    make: Callable[[random.Random], Instance], kind: str = "stdio", fn_name: str | None = None
) -> Family:
    return Family(make.__name__, kind, fn_name, make, (make.__doc__ or "").strip())


# fn_name is filled per instance for functional families (see build.py): the family's function name.
FAMILIES: dict[str, Family] = {
    f.name: f
    for f in [
        _family(affine), _family(two_ops), _family(count_divisible), _family(sum_above),
        _family(extreme), _family(count_even), _family(reverse_word), _family(count_letter),
        _family(classify_sign), _family(divisible_yes), _family(range_sum), _family(digit_sum),
        _family(palindrome), _family(threshold), _family(middle_of_three), _family(repeat_word),
        _family(gcd_lcm), _family(clamp), _family(find_letter), _family(count_up), _family(count_words),
        _family(fn_count_greater, "functional"), _family(fn_sum_list, "functional"),
        _family(fn_is_sorted, "functional"), _family(fn_string, "functional"),
    ]
}  # fmt: skip
