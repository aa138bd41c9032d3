"""UTRL discrimination reward: our batched scorer against a per-pair reference, same scores.

Workload: one UTRL-sized batch, by default 8 tasks (4 stdio, 4 functional) x a GRPO group of 8
responses = 64 responses, each with 12 tests in the `utrl-test` format, scored against 8
opponents per task plus the gold solution. The opponents are what a code generator samples:
correct programs written differently, subtly wrong ones (ties, off-by-one, a missing edge case,
a wrong output case), ones that crash on some or all inputs, and a few slow or looping ones
(subtraction GCD on a zero, a merge loop that never advances on touching intervals, an
exponential recursion and a cubic scan on the long inputs). The responses share some inputs
within a group (the problem's samples), and about 15% of their outputs are wrong; some tests
make gold crash (inputs outside the constraints), a few responses are malformed, one repeats a
test and one has no test at all.

(a) ours: `score_utrl_tests` on the whole batch through `get_executor()` (fork-server workers,
    a fresh executor so nothing is cached): one deduplicated call runs gold on every input,
    then rounds of calls run the opponents on valid tests until each one's first failure.
(b) reference: each response after the other, each (program, test) pair its own fresh
    interpreter (atest's `subprocess` provider, the one reference runner of every bench);
    gold on every test, then every opponent
    on every valid test, as the papers' code runs them (no fork server, no batching, no cache).
    `--reference-workers N` runs the pairs of one response on N threads and
    `--reference-early-stop` stops an opponent at its first failed valid test: both make the
    reference faster (more generous) without changing its scores.

Both compute score = 0.1 format + 0.85 discrimination + 0.05 n_valid / max(12, n_tests) and
the scores must be identical (compared exactly, with every component). Where our reward
deliberately differs from the papers' code (docs/rewards.md), the reference here is switched
to our rule: a crash or time-out counts as failing a test; zero parsed tests score 0; tests
are parsed by our `utrl-test` parser for both (so duplicate inputs are dropped the same way;
the workload's one duplicate is an exact copy, which the papers' code drops too); outputs are
compared with the sandbox's `outputs_match`; functional tasks, which the papers' code dropped,
run in the reference through the sandbox's own harness. Left out of the workload: inputs over
the size cap and `exclude_correct_opponents` (off). Time limits: CPU time for both (the
reference's wall watchdog is 2 x CPU + 1 s); every program here ends far below it or never.

    .venv/bin/python bench/reward.py            # full batch: 64 responses x 12 tests x 8 opponents
    .venv/bin/python bench/reward.py --quick    # 16 responses

The last line printed is one JSON object with the headline figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from atest.core.parsing import parse_tests
from atest.core.prompts import render_test
from atest.core.rewards import RewardResult, UtrlRewardConfig, UtrlTestItem, score_utrl_tests
from atest.core.sandbox import Fault, Job, Limits, Program, Status, get_executor, outputs_match
from atest.core.sandbox.oneshot import SubprocessProvider
from atest.core.tasks import Task

READ_ARRAY = "n = int(input())\na = list(map(int, input().split()))\n"


@dataclass
class BenchTask:
    """A task, its gold, its opponents, and how a test generator picks inputs for it."""

    name: str
    kind: str
    gold: str
    opponents: list[str]
    samples: list[Any]  # inputs every response of a group is likely to reuse
    random_input: Callable[[random.Random], Any]
    edge_input: Callable[[random.Random], Any]  # edge cases: where the slow and crashing bugs live
    fn_name: str | None = None


def _array_input(values: list[int]) -> str:
    return f"{len(values)}\n{' '.join(map(str, values))}\n"


MAX_SUBARRAY = BenchTask(
    name="max-subarray",
    kind="stdio",
    gold=READ_ARRAY
    + "best = cur = a[0]\nfor x in a[1:]:\n    cur = max(x, cur + x)\n    best = max(best, cur)\n"
    "print(best)\n",
    opponents=[
        READ_ARRAY + "p = [0]\nfor x in a:\n    p.append(p[-1] + x)\n"
        "print(max(p[j] - p[i] for i in range(n) for j in range(i + 1, n + 1)))\n",
        "import sys\nd = sys.stdin.read().split()\nv = list(map(int, d[1:]))\nbest, run = v[0], 0\n"
        "for x in v:\n    run = max(run + x, x)\n    best = max(best, run)\nprint(best)\n",
        READ_ARRAY + "best = cur = 0\nfor x in a:\n    cur = max(x, cur + x)\n    best = max(best, cur)\n"
        "print(best)\n",
        READ_ARRAY + "best = cur = a[0]\nfor x in a[1:n - 1]:\n    cur = max(x, cur + x)\n"
        "    best = max(best, cur)\nprint(best)\n",
        READ_ARRAY + "cur = max(a[1], a[0] + a[1])\nbest = max(a[0], cur)\nfor x in a[2:]:\n"
        "    cur = max(x, cur + x)\n    best = max(best, cur)\nprint(best)\n",
        READ_ARRAY + "print(sum(x for x in a if x > 0))\n",
        READ_ARRAY + "print(max(a) if max(a) < 0 else sum(x for x in a if x > 0))\n",
        READ_ARRAY + "best = a[0]\ncur = 0\nfor x in a:\n    cur += x\n    best = max(best, cur)\n"
        "    if cur < 0:\n        cur = 0\nprint(best)\n",
    ],
    samples=[_array_input([-2, 1, -3, 4, -1, 2, 1, -5, 4]), _array_input([5]), _array_input([-3, -1, -2])],
    random_input=lambda r: _array_input([r.randint(-50, 50) for _ in range(r.randint(2, 40))]),
    edge_input=lambda r: r.choice(
        [
            _array_input([r.randint(-9, -1) for _ in range(r.randint(1, 6))]),
            _array_input([r.randint(-9, 9)]),
            "0\n\n",
        ]
    ),
)

GCD_LCM = BenchTask(
    name="gcd-lcm",
    kind="stdio",
    gold=READ_ARRAY + "from math import gcd\ng, l = 0, 1\nfor x in a:\n    g = gcd(g, x)\n"
    "    l = l * x // gcd(l, x) if x and l else 0\nprint(g, l)\n",
    opponents=[
        READ_ARRAY + "import math\nprint(math.gcd(*a), math.lcm(*a))\n",
        READ_ARRAY
        + "import math\ndef g2(x, y):\n    while x != y:\n        if x > y:\n            x -= y\n        else:\n"
        "            y -= x\n    return x\ng, l = a[0], a[0]\nfor x in a[1:]:\n    g = g2(g, x)\n"
        "    l = math.lcm(l, x)\nprint(g, l)\n",
        READ_ARRAY + "from math import gcd\nfrom functools import reduce\n"
        "print(reduce(gcd, a), reduce(lambda x, y: x * y, a))\n",
        "n = int(input())\na = [int(input()) for _ in range(n)]\nimport math\nprint(math.gcd(*a), math.lcm(*a))\n",
        READ_ARRAY + "import math\ng, l = 1, 1\nfor x in a:\n    g = math.gcd(g, x)\n    l = math.lcm(l, x)\n"
        "print(g, l)\n",
        READ_ARRAY + "from math import gcd\ng, l = 0, 1\nfor x in a:\n    g = gcd(g, x)\n"
        "    l = l * x // gcd(l, x) if x and l else 0\nprint(g, l)\n",
        READ_ARRAY + "import math\na = [x for x in a if x]\nprint(math.gcd(*a), math.lcm(*a))\n",
        READ_ARRAY + "import math\nprint(math.lcm(*a), math.gcd(*a))\n",
    ],
    samples=[_array_input([4, 6, 8]), _array_input([7]), _array_input([12, 18])],
    random_input=lambda r: _array_input([r.randint(1, 60) for _ in range(r.randint(2, 8))]),
    edge_input=lambda r: r.choice(
        [_array_input([0, r.randint(1, 30), r.randint(1, 30)]), _array_input([r.randint(1, 9)] * 3), "0\n\n"]
    ),
)

WORD_FREQ = BenchTask(
    name="most-frequent-word",
    kind="stdio",
    gold="from collections import Counter\nc = Counter(input().split())\nbest = min(c, key=lambda w: (-c[w], w))\n"
    "print(best, c[best])\n",
    opponents=[
        "from collections import Counter\nc = Counter(input().split())\n"
        "w, k = sorted(c.items(), key=lambda p: (-p[1], p[0]))[0]\nprint(w, k)\n",
        "from collections import Counter\nw, k = Counter(input().split()).most_common(1)[0]\nprint(w, k)\n",
        "from collections import Counter\nc = Counter(input().split())\nbest = max(c, key=lambda w: (c[w], w))\n"
        "print(best, c[best])\n",
        "n = int(input())\nfrom collections import Counter\nc = Counter(input().split())\n"
        "best = min(c, key=lambda w: (-c[w], w))\nprint(best, c[best])\n",
        "from collections import Counter\nc = Counter(input().split())\nprint(min(c, key=lambda w: (-c[w], w)))\n",
        "ws = input().split()\nbest = min(set(ws), key=lambda w: (-ws.count(w), w))\nprint(best, ws.count(best))\n",
        "ws = sorted(input().split())\nbest, bc, cur, cc = None, 0, None, 0\nfor w in ws:\n    if w == cur:\n"
        "        cc += 1\n    else:\n        if cc > bc:\n            best, bc = cur, cc\n        cur, cc = w, 1\n"
        "print(best, bc)\n",
        "import sys\nfrom collections import Counter\nc = Counter(sys.stdin.read().split())\n"
        "best = min(c, key=lambda w: (-c[w], w))\nprint(best, c[best])\n",
    ],
    samples=["the cat and the dog\n", "b a\n", "x y x y z\n"],
    random_input=lambda r: (
        " ".join(r.choice(["ab", "bc", "cd", "de", "ef", "fa"]) for _ in range(r.randint(3, 30))) + "\n"
    ),
    edge_input=lambda r: r.choice(["solo\n", "z z y y\n", "q w e r t\n"]),
)

PALINDROME = BenchTask(
    name="palindrome-rearrangement",
    kind="stdio",
    gold="import sys\nfrom collections import Counter\nd = sys.stdin.read().split()\nq = int(d[0])\n"
    "for s in d[1:1 + q]:\n    odd = sum(v % 2 for v in Counter(s).values())\n"
    "    print('YES' if odd <= 1 else 'NO')\n",
    opponents=[
        "q = int(input())\nfor _ in range(q):\n    s = input().strip()\n    odd = set()\n    for ch in s:\n"
        "        odd ^= {ch}\n    print('YES' if len(odd) < 2 else 'NO')\n",
        "from collections import Counter\nq = int(input())\nfor _ in range(q):\n"
        "    c = Counter(input().strip())\n    print('YES' if all(v % 2 == 0 for v in c.values()) else 'NO')\n",
        "q = int(input())\nfor _ in range(q):\n    s = input().strip()\n    print('YES' if s == s[::-1] else 'NO')\n",
        "def odd(s):\n    if not s:\n        return set()\n    rest = odd(s[1:])\n    return rest ^ {s[0]}\n"
        "q = int(input())\nfor _ in range(q):\n    print('YES' if len(odd(input().strip())) <= 1 else 'NO')\n",
        "from collections import Counter\nq = int(input())\nfor _ in range(q):\n    s = input().strip()\n"
        "    odd = sum(v % 2 for v in Counter(s).values())\n    print('YES' if odd <= len(s) % 2 else 'NO')\n",
        "from collections import Counter\nq = int(input())\nfor _ in range(q):\n    s = input().strip()\n"
        "    print('Yes' if sum(v % 2 for v in Counter(s).values()) <= 1 else 'No')\n",
        "import sys\nfrom collections import Counter\nd = sys.stdin.read().split()\nq = int(d[0])\n"
        "for s in d[1:1 + q]:\n    odd = sum(v % 2 for v in Counter(s).values())\n"
        "    print('YES' if odd <= 1 else 'NO')\n",
        "from collections import Counter\nq = int(input())\ns = input().strip()\n"
        "print('YES' if sum(v % 2 for v in Counter(s).values()) <= 1 else 'NO')\n",
    ],
    samples=["3\naab\nabc\ncivic\n", "1\na\n", "2\naabb\nab\n"],
    random_input=lambda r: (lambda ws: f"{len(ws)}\n" + "".join(w + "\n" for w in ws))(
        ["".join(r.choice("abc") for _ in range(r.randint(1, 8))) for _ in range(r.randint(1, 6))]
    ),
    edge_input=lambda r: r.choice(["1\n" + "ab" * 800 + "\n", "2\nzz\nz\n", "1\nabcba\n"]),
)


def _solution(body: str, signature: str) -> str:
    lines = body.strip("\n").splitlines()
    return f"class Solution:\n    def {signature}:\n" + "".join(f"        {line}\n" for line in lines)


TWO_SUM = BenchTask(
    name="two-sum",
    kind="functional",
    fn_name="twoSum",
    gold=_solution(
        "seen = {}\nfor i, x in enumerate(nums):\n    if target - x in seen:\n        return [seen[target - x], i]\n"
        "    seen[x] = i\nreturn []",
        "twoSum(self, nums, target)",
    ),
    opponents=[
        _solution(
            "for i in range(len(nums)):\n    for j in range(i + 1, len(nums)):\n        if nums[i] + nums[j] == target:\n"
            "            return [i, j]\nreturn []",
            "twoSum(self, nums, target)",
        ),
        _solution(
            "for i in range(len(nums)):\n    for j in range(i, len(nums)):\n        if nums[i] + nums[j] == target:\n"
            "            return [i, j]\nreturn []",
            "twoSum(self, nums, target)",
        ),
        _solution(
            "seen = {}\nfor i, x in enumerate(nums):\n    seen[x] = i\n    if target - x in seen:\n"
            "        return [seen[target - x], i]\nreturn []",
            "twoSum(self, nums, target)",
        ),
        _solution(
            "order = sorted(range(len(nums)), key=lambda k: nums[k])\nlo, hi = 0, len(nums) - 1\nwhile lo < hi:\n"
            "    s = nums[order[lo]] + nums[order[hi]]\n    if s == target:\n        return [lo, hi]\n"
            "    if s < target:\n        lo += 1\n    else:\n        hi -= 1\nreturn []",
            "twoSum(self, nums, target)",
        ),
        _solution(
            "seen = {}\nfor i, x in enumerate(nums):\n    if target - x in seen:\n        return [seen[target - x], i]\n"
            "    seen[x] = i",
            "twoSum(self, nums, target)",
        ),
        _solution(
            "seen = {}\nfor i, x in enumerate(nums):\n    j = seen.get(target - x)\n    if j is not None:\n"
            "        return [j, i]\n    seen[x] = i\nreturn []",
            "twoSum(self, nums, target)",
        ),
        _solution(
            "seen = {}\nfor i, x in enumerate(nums):\n    seen.setdefault(x, i)\nfor i, x in enumerate(nums):\n"
            "    j = seen.get(target - x)\n    if j is not None and j != i:\n        return sorted([i, j])\nreturn []",
            "twoSum(self, nums, target)",
        ),
        _solution("return [nums.index(target - nums[0]), 0]", "twoSum(self, nums, target)"),
    ],
    samples=[[[2, 7, 11, 15], 9], [[3, 2, 4], 6], [[3, 3], 6]],
    random_input=lambda r: (lambda nums: [nums, r.choice(nums) + r.choice(nums)])(
        [r.randint(-20, 20) for _ in range(r.randint(2, 12))]
    ),
    edge_input=lambda r: r.choice([[[1, 2], 7], [[5, 1, 5], 10], [[0, 4, 0], 0]]),
)

LONGEST_SUBSTRING = BenchTask(
    name="longest-substring",
    kind="functional",
    fn_name="lengthOfLongestSubstring",
    gold=_solution(
        "last, start, best = {}, 0, 0\nfor i, ch in enumerate(s):\n    if last.get(ch, -1) >= start:\n"
        "        start = last[ch] + 1\n    last[ch] = i\n    best = max(best, i - start + 1)\nreturn best",
        "lengthOfLongestSubstring(self, s)",
    ),
    opponents=[
        _solution(
            "best = 0\nfor i in range(len(s)):\n    for j in range(i, len(s)):\n        if len(set(s[i:j + 1])) == j - i + 1:\n"
            "            best = max(best, j - i + 1)\nreturn best",
            "lengthOfLongestSubstring(self, s)",
        ),
        _solution(
            "seen, start, best = set(), 0, 0\nfor i, ch in enumerate(s):\n    if ch in seen:\n        seen = {ch}\n"
            "        start = i\n    else:\n        seen.add(ch)\n    best = max(best, i - start + 1)\nreturn best",
            "lengthOfLongestSubstring(self, s)",
        ),
        _solution(
            "last, start, best = {}, 0, 0\nfor i, ch in enumerate(s):\n    if ch in last:\n        start = last[ch] + 1\n"
            "    last[ch] = i\n    best = max(best, i - start + 1)\nreturn best",
            "lengthOfLongestSubstring(self, s)",
        ),
        _solution(
            "last, start, best = {s[0]: 0}, 0, 1\nfor i in range(1, len(s)):\n    ch = s[i]\n"
            "    if last.get(ch, -1) >= start:\n        start = last[ch] + 1\n    last[ch] = i\n"
            "    best = max(best, i - start + 1)\nreturn best",
            "lengthOfLongestSubstring(self, s)",
        ),
        _solution(
            "window, best = [], 0\nfor ch in s:\n    while ch in window:\n        window.pop(0)\n    window.append(ch)\n"
            "    best = max(best, len(window))\nreturn best",
            "lengthOfLongestSubstring(self, s)",
        ),
        _solution("return len(set(s))", "lengthOfLongestSubstring(self, s)"),
        _solution(
            "from collections import deque\nq, best = deque(), 0\nfor ch in s:\n    while ch in q:\n        q.popleft()\n"
            "    q.append(ch)\n    best = max(best, len(q))\nreturn best",
            "lengthOfLongestSubstring(self, s)",
        ),
        _solution(
            "last, start, best = {}, 0, 0\nfor i, ch in enumerate(s):\n    if last.get(ch, -1) >= start:\n"
            "        start = last[ch] + 1\n    last[ch] = i\n    best = max(best, i - start)\nreturn best",
            "lengthOfLongestSubstring(self, s)",
        ),
    ],
    samples=[["abcabcbb"], ["bbbbb"], ["pwwkew"]],
    random_input=lambda r: ["".join(r.choice("abcdef") for _ in range(r.randint(1, 16)))],
    edge_input=lambda r: r.choice(
        [[""], ["abba"], ["".join(chr(48 + k % 60) for k in range(3000))], ["dvdf"]]
    ),
)

MERGE = BenchTask(
    name="merge-intervals",
    kind="functional",
    fn_name="merge",
    gold=_solution(
        "out = []\nfor lo, hi in sorted(intervals):\n    if out and lo <= out[-1][1]:\n"
        "        out[-1][1] = max(out[-1][1], hi)\n    else:\n        out.append([lo, hi])\nreturn out",
        "merge(self, intervals)",
    ),
    opponents=[
        _solution(
            "iv = sorted(intervals, key=lambda p: p[0])\nout = []\nfor p in iv:\n    if not out or out[-1][1] < p[0]:\n"
            "        out.append(list(p))\n    else:\n        out[-1][1] = max(out[-1][1], p[1])\nreturn out",
            "merge(self, intervals)",
        ),
        _solution(
            "out = []\nfor lo, hi in intervals:\n    if out and lo <= out[-1][1]:\n        out[-1][1] = max(out[-1][1], hi)\n"
            "    else:\n        out.append([lo, hi])\nreturn out",
            "merge(self, intervals)",
        ),
        _solution(
            "out = []\nfor lo, hi in sorted(intervals):\n    if out and lo < out[-1][1]:\n"
            "        out[-1][1] = max(out[-1][1], hi)\n    else:\n        out.append([lo, hi])\nreturn out",
            "merge(self, intervals)",
        ),
        _solution(
            "iv = sorted(intervals)\nout = [list(iv[0])]\nfor lo, hi in iv[1:]:\n    if lo <= out[-1][1]:\n"
            "        out[-1][1] = max(out[-1][1], hi)\n    else:\n        out.append([lo, hi])\nreturn out",
            "merge(self, intervals)",
        ),
        _solution(
            "out = []\nfor lo, hi in sorted(intervals):\n    if out and lo <= out[-1][1]:\n        out[-1][1] = hi\n"
            "    else:\n        out.append([lo, hi])\nreturn out",
            "merge(self, intervals)",
        ),
        _solution(
            "out = []\nfor lo, hi in sorted(intervals):\n    if out and lo <= out[-1][1]:\n"
            "        out[-1] = (out[-1][0], max(out[-1][1], hi))\n    else:\n        out.append((lo, hi))\nreturn out",
            "merge(self, intervals)",
        ),
        _solution(
            "iv = sorted(map(list, intervals))\ni = 0\nwhile i < len(iv) - 1:\n    if iv[i][1] > iv[i + 1][0]:\n"
            "        iv[i][1] = max(iv[i][1], iv[i + 1][1])\n        iv.pop(i + 1)\n    elif iv[i][1] == iv[i + 1][0]:\n"
            "        continue\n    else:\n        i += 1\nreturn iv",
            "merge(self, intervals)",
        ),
        _solution(
            "iv = sorted(intervals)\nout = []\nfor p in iv:\n    if out and p[0] <= out[-1][1]:\n"
            "        out[-1] = [out[-1][0], max(out[-1][1], p[1])]\n    else:\n        out.append(p)\nreturn out",
            "merge(self, intervals)",
        ),
    ],
    samples=[[[[1, 3], [2, 6], [8, 10], [15, 18]]], [[[1, 4], [5, 6]]], [[[1, 10], [2, 3]]]],
    random_input=lambda r: [
        [
            (lambda lo: [lo, lo + 2 * r.randint(0, 4) + 1])(r.randrange(0, 200, 2) + 1)
            for _ in range(r.randint(1, 7))
        ]
    ],
    edge_input=lambda r: r.choice([[[]], [[[1, 4], [4, 5]]], [[[3, 3]]], [[[5, 8], [1, 2]]]]),
)

DECODE = BenchTask(
    name="decode-ways",
    kind="functional",
    fn_name="numDecodings",
    gold=_solution(
        "prev, cur = 1, int(s[0] != '0')\nfor i in range(1, len(s)):\n    nxt = cur if s[i] != '0' else 0\n"
        "    if 10 <= int(s[i - 1:i + 1]) <= 26:\n        nxt += prev\n    prev, cur = cur, nxt\nreturn cur",
        "numDecodings(self, s)",
    ),
    opponents=[
        _solution(
            "def go(i):\n    if i == len(s):\n        return 1\n    if s[i] == '0':\n        return 0\n    r = go(i + 1)\n"
            "    if i + 1 < len(s) and int(s[i:i + 2]) <= 26:\n        r += go(i + 2)\n    return r\nreturn go(0)",
            "numDecodings(self, s)",
        ),
        _solution(
            "prev, cur = 1, 1\nfor i in range(1, len(s)):\n    nxt = cur\n    if 10 <= int(s[i - 1:i + 1]) <= 26:\n"
            "        nxt += prev\n    prev, cur = cur, nxt\nreturn cur",
            "numDecodings(self, s)",
        ),
        _solution(
            "prev, cur = 1, int(s[0] != '0')\nfor i in range(1, len(s)):\n    nxt = cur if s[i] != '0' else 0\n"
            "    if s[i - 1] in '12':\n        nxt += prev\n    prev, cur = cur, nxt\nreturn cur",
            "numDecodings(self, s)",
        ),
        _solution(
            "dp = [1, int(s[0] != '0'), 0]\ndp[2] = dp[1] * (s[1] != '0') + (10 <= int(s[:2]) <= 26)\n"
            "for i in range(2, len(s)):\n    dp.append(dp[-1] * (s[i] != '0') + dp[-2] * (10 <= int(s[i - 1:i + 1]) <= 26))\n"
            "return dp[-1]",
            "numDecodings(self, s)",
        ),
        _solution(
            "from functools import lru_cache\n@lru_cache(None)\ndef go(i):\n    if i == len(s):\n        return 1\n"
            "    if s[i] == '0':\n        return 0\n    r = go(i + 1)\n    if i + 1 < len(s) and int(s[i:i + 2]) <= 26:\n"
            "        r += go(i + 2)\n    return r\nreturn go(0)",
            "numDecodings(self, s)",
        ),
        _solution(
            "dp = [0] * (len(s) + 1)\ndp[0] = 1\nfor i in range(1, len(s) + 1):\n    if s[i - 1] != '0':\n"
            "        dp[i] += dp[i - 1]\n    if i > 1 and 10 <= int(s[i - 2:i]) <= 26:\n        dp[i] += dp[i - 2]\n"
            "return dp[len(s)]",
            "numDecodings(self, s)",
        ),
        _solution(
            "dp = [0] * (len(s) + 1)\ndp[0] = 1\nfor i in range(1, len(s) + 1):\n    if s[i - 1] != '0':\n"
            "        dp[i] += dp[i - 1]\n    if i > 1 and 10 <= int(s[i - 2:i]) <= 26:\n        dp[i] += dp[i - 2]\n"
            "return dp[len(s) - 1]",
            "numDecodings(self, s)",
        ),
        _solution(
            "prev, cur = 1, 1\nfor i in range(1, len(s)):\n    nxt = cur if s[i] != '0' else 0\n"
            "    if 10 <= int(s[i - 1:i + 1]) <= 26:\n        nxt += prev\n    prev, cur = cur, nxt\nreturn cur",
            "numDecodings(self, s)",
        ),
    ],
    samples=[["12"], ["226"], ["06"]],
    random_input=lambda r: ["".join(r.choice("1234560") for _ in range(r.randint(1, 14)))],
    edge_input=lambda r: r.choice([["1" * 60], ["0"], ["10"], ["2" * 45 + "1"], ["7"]]),
)

TASKS = [MAX_SUBARRAY, GCD_LCM, WORD_FREQ, PALINDROME, TWO_SUM, LONGEST_SUBSTRING, MERGE, DECODE]

REASONS = [
    "A small case from the statement, to pin the basic behaviour.",
    "An edge case: the smallest input the constraints allow.",
    "Mixed values, so an off-by-one or a wrong initial value shows.",
    "A case where ties or repeated values matter.",
]


def _corrupt(value: Any, kind: str, rng: random.Random) -> Any:
    """A plausible wrong expected output (a model's arithmetic slip)."""
    if kind == "stdio":
        tokens = value.split()
        if not tokens:
            return "0\n"
        k = rng.randrange(len(tokens))
        tok = tokens[k]
        tokens[k] = (
            str(int(tok) + 1) if tok.lstrip("-").isdigit() else {"YES": "NO", "NO": "YES"}.get(tok, tok + "s")
        )
        return " ".join(tokens) + "\n"
    if isinstance(value, int) and not isinstance(value, bool):
        return value + 1
    if isinstance(value, list):
        return value[:-1] if value else [0]
    return 0


def gold_outputs(tasks: list[BenchTask], inputs: list[list[Any]], limits: Limits) -> list[list[Any]]:
    """What gold prints on every input (None when it fails): the test generator's right answers."""
    jobs = [
        Job(Program(t.gold, t.kind, t.fn_name), value, limits)
        for t, values in zip(tasks, inputs, strict=True)
        for value in values
    ]
    with get_executor() as ex:
        results = iter(ex.run(jobs))
    return [
        [r.output if (r := next(results)).status is Status.OK else None for _ in values] for values in inputs
    ]


def build_batch(
    n_tasks: int, group: int, n_tests: int, n_opponents: int, seed: int, limits: Limits
) -> list[UtrlTestItem]:
    """The responses of `group` samples per task, in the `utrl-test` format."""
    rng = random.Random(seed)
    tasks = TASKS[:n_tasks]
    plans: list[list[list[Any]]] = []  # per task, per response: the inputs
    for t in tasks:
        responses = []
        for _ in range(group):
            values = rng.sample(t.samples, k=min(len(t.samples), rng.randint(1, 3)))
            values += [t.edge_input(rng) for _ in range(rng.randint(0, 2))]
            while len(values) < n_tests:
                values.append(t.random_input(rng))
            responses.append(values[:n_tests])
        plans.append(responses)
    flat_inputs = [[v for values in responses for v in values] for responses in plans]
    outputs = gold_outputs(tasks, flat_inputs, limits)
    items = []
    for ti, (t, responses) in enumerate(zip(tasks, plans, strict=True)):
        task = Task(f"bench-{t.name}", t.name, t.kind, [t.gold], [], fn_name=t.fn_name)
        answers = iter(outputs[ti])
        for gi, values in enumerate(responses):
            tests = []
            for value in values:
                right = next(answers)
                out = right if right is not None else ("0\n" if t.kind == "stdio" else 0)
                if rng.random() < 0.15:
                    out = _corrupt(out, t.kind, rng)
                tests.append({"input": value, "output": out})
            if gi == 3 and len(tests) > 3:
                tests[-1] = dict(tests[2])  # an exact duplicate: 11 distinct tests
            blocks = [
                f"<reasoning>\n{rng.choice(REASONS)}\n</reasoning>\n{render_test(x, t.kind)}\n" for x in tests
            ]
            if gi == 5:
                blocks[1] = blocks[1].split("</reasoning>\n", 1)[1]  # a test without its reasoning: format 0
            text = "".join(blocks)
            if ti == 0 and gi == group - 1:  # a response with no test at all
                text = "<reasoning>\nI am not sure what the tests should be.\n</reasoning>\n"
            items.append(UtrlTestItem(task, text, t.opponents[:n_opponents]))
    return items


def cpu_seconds_used() -> float:
    """CPU time of this process and of every descendant it has reaped (sandbox workers, subprocesses).

    Less sensitive than wall time to other load on the machine, so printed next to it.
    """
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


# ---- the reference: one subprocess per (program, test) pair, one response after the other ----


def reference_run(
    provider: SubprocessProvider, source: str, task: Task, value: Any, limits: Limits
) -> tuple[bool, Any]:
    """(ended normally, output) for one program on one input: a fresh interpreter, as the papers' code runs it."""
    [result] = provider.run([Job(Program(source, task.kind, task.fn_name), value, limits)])
    if isinstance(result, Fault):
        raise RuntimeError(f"the reference runner failed: {result.cause}")
    return result.status is Status.OK, result.output


@dataclass
class Reference:
    provider: SubprocessProvider
    limits: Limits
    early_stop: bool
    executions: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def passes(self, source: str, task: Task, test: dict[str, Any]) -> bool:
        with self._lock:
            self.executions += 1
        ok, out = reference_run(self.provider, source, task, test["input"], self.limits)
        return ok and outputs_match(task.kind, test["output"], out)

    def fails_some(self, source: str, task: Task, tests: list[dict[str, Any]]) -> bool:
        if self.early_stop:
            return any(not self.passes(source, task, t) for t in tests)
        return not all([self.passes(source, task, t) for t in tests])

    def score(self, item: UtrlTestItem, config: UtrlRewardConfig, pool: ThreadPoolExecutor) -> RewardResult:
        task = item.task
        parsed = parse_tests(item.response, task.kind, template="utrl-test")
        tests = parsed.tests
        gold_ok = list(pool.map(lambda t: self.passes(task.gold_solutions[0], task, t), tests))
        valid = [t for t, ok in zip(tests, gold_ok, strict=True) if ok]
        detected = sum(pool.map(lambda code: self.fails_some(code, task, valid), item.opponents))
        n_tests, n_valid, n_targets = len(tests), len(valid), len(item.opponents)
        discrimination = detected / n_targets if n_targets else 0.0
        validity = min(1.0, n_valid / max(config.n_tests, n_tests, 1))
        fmt = 1.0 if parsed.well_formed and n_tests else 0.0
        score = (
            config.format_weight * fmt
            + config.discrimination_weight * discrimination
            + config.validity_weight * validity
            if n_tests
            else 0.0
        )
        return RewardResult(
            score,
            {
                "format": fmt,
                "discrimination": discrimination,
                "validity": validity,
                "n_tests": float(n_tests),
                "n_valid": float(n_valid),
                "opponents": float(n_targets),
                "opponents_excluded": 0.0,
                "detected": float(detected),
            },
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=len(TASKS), help=f"at most {len(TASKS)}")
    parser.add_argument("--group", type=int, default=8, help="responses per task (a GRPO group)")
    parser.add_argument("--tests", type=int, default=12, help="tests per response")
    parser.add_argument("--opponents", type=int, default=8, help="opponents per task, at most 8")
    parser.add_argument("--cpu-seconds", type=float, default=1.0, help="time limit of one execution")
    parser.add_argument("--workers", type=int, default=None, help="sandbox workers (default: cores)")
    parser.add_argument("--reference-workers", type=int, default=1, help="threads for one response's pairs")
    parser.add_argument(
        "--reference-early-stop", action="store_true", help="opponent stops at its first failure"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a small run: 2 responses per task")
    args = parser.parse_args()
    if args.quick:
        args.group = 2
    if not 1 <= args.tasks <= len(TASKS) or not 1 <= args.opponents <= 8 or args.group < 1 or args.tests < 1:
        parser.error(f"--tasks must be 1..{len(TASKS)}, --opponents 1..8, --group and --tests at least 1")

    limits = Limits(cpu_seconds=args.cpu_seconds)
    config = UtrlRewardConfig()
    items = build_batch(args.tasks, args.group, args.tests, args.opponents, args.seed, limits)
    print(
        f"batch: {len(items)} responses, {args.tests} tests, {args.opponents} opponents + gold",
        file=sys.stderr,
    )

    cpu_start = cpu_seconds_used()
    start = time.perf_counter()
    with get_executor(workers=args.workers) as ex:
        startup = time.perf_counter() - start
        start = time.perf_counter()
        ours = score_utrl_tests(ex, items, config, limits=limits)
        ours_seconds = time.perf_counter() - start
        executed = ex.executed
    ours_cpu = cpu_seconds_used() - cpu_start
    print(
        f"ours: {ours_seconds:.2f}s, {executed} executions (executor start-up {startup:.2f}s), "
        f"{ours_cpu:.1f} CPU seconds",
        file=sys.stderr,
    )

    cpu_start = cpu_seconds_used()
    provider = SubprocessProvider(1)
    with ThreadPoolExecutor(args.reference_workers) as pool:
        reference = Reference(provider, limits, args.reference_early_stop)
        start = time.perf_counter()
        theirs = []
        for k, item in enumerate(items):
            theirs.append(reference.score(item, config, pool))
            if (k + 1) % 8 == 0:
                print(
                    f"reference: {k + 1}/{len(items)} responses, {time.perf_counter() - start:.0f}s",
                    file=sys.stderr,
                )
        ref_seconds = time.perf_counter() - start
    provider.close()
    ref_cpu = cpu_seconds_used() - cpu_start
    print(
        f"reference: {ref_seconds:.2f}s, {reference.executions} executions, {ref_cpu:.1f} CPU seconds",
        file=sys.stderr,
    )

    same = [a.score == b.score and a.components == b.components for a, b in zip(ours, theirs, strict=True)]
    for k, ok in enumerate(same):
        if not ok:
            print(f"response {k}: ours {ours[k]} reference {theirs[k]}", file=sys.stderr)
    scores = [r.score for r in ours]
    print(
        f"speedup {ref_seconds / ours_seconds:.1f}x; same scores: {all(same)}; "
        f"mean score {sum(scores) / len(scores):.3f}, distinct scores {len(set(scores))}",
        file=sys.stderr,
    )
    print(
        json.dumps(
            {
                "speedup": round(ref_seconds / ours_seconds, 2),
                "same_scores": all(same),
                "ours_seconds": round(ours_seconds, 3),
                "reference_seconds": round(ref_seconds, 3),
                "executor_startup_seconds": round(startup, 3),
                "ours_cpu_seconds": round(ours_cpu, 2),
                "reference_cpu_seconds": round(ref_cpu, 2),
                "cpu_ratio": round(ref_cpu / ours_cpu, 2),
                "responses": len(items),
                "tasks": args.tasks,
                "tests_per_response": args.tests,
                "opponents": args.opponents,
                "ours_executions": executed,
                "reference_executions": reference.executions,
                "workers": args.workers or os.cpu_count(),
                "reference_workers": args.reference_workers,
                "reference_early_stop": args.reference_early_stop,
                "cpu_seconds": args.cpu_seconds,
                "mean_score": round(sum(scores) / len(scores), 4),
            }
        )
    )


if __name__ == "__main__":
    main()
