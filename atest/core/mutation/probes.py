"""Extra inputs, derived from a functional task's gold-test inputs, to probe surviving mutants.

A mutant that passes every gold test is either equivalent to the gold solution or a bug
the gold tests miss. Running it and the gold solution on inputs near the gold tests'
inputs tells the two apart in the common case: any disagreement proves the mutant
differs. Agreement only makes equivalence likely.

Perturbations keep each input's shape (list lengths, string lengths, argument types)
and keep integers inside the range seen for that argument across the gold tests, so
most derived inputs still satisfy the problem's constraints. Some will not (a shuffled
list where the problem promises a sorted one); inputs on which the gold solution fails
are dropped by the caller, but one the gold solution handles outside the constraints can
still make an equivalent mutant look distinguishable. That is why the result is called
"distinguished on a derived input", not "proved non-equivalent".
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Sequence
from typing import Any

_MAX_TRIES_PER_INPUT = 8


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _arg_names(value: Any) -> list[Any]:
    return list(value) if isinstance(value, dict) else list(range(len(value)))


def _int_leaves(value: Any) -> list[int]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, list):
        return [x for item in value for x in _int_leaves(item)]
    if isinstance(value, dict):
        return [x for item in value.values() for x in _int_leaves(item)]
    return []


def _ranges(inputs: Sequence[Any]) -> dict[Any, tuple[int, int]]:
    """Per argument (position or keyword), the smallest and largest integer seen anywhere in it."""
    seen: dict[Any, list[int]] = {}
    for value in inputs:
        for name in _arg_names(value):
            seen.setdefault(name, []).extend(_int_leaves(value[name]))
    return {name: (min(xs), max(xs)) for name, xs in seen.items() if xs}


def _slots(value: Any, path: tuple = ()) -> list[tuple]:
    """Paths to every perturbable part: integers, booleans, strings and lists."""
    out: list[tuple] = []
    if isinstance(value, (bool, int, str, list)):
        out.append(path)
    if isinstance(value, list):
        for i, item in enumerate(value):
            out.extend(_slots(item, (*path, i)))
    return out


def _get(value: Any, path: tuple) -> Any:
    for step in path:
        value = value[step]
    return value


def _set(value: Any, path: tuple, new: Any) -> None:
    parent = _get(value, path[:-1])
    parent[path[-1]] = new


def _perturb(old: Any, bounds: tuple[int, int] | None, rng: random.Random) -> Any:
    if isinstance(old, bool):
        return not old
    if isinstance(old, int):
        lo, hi = bounds if bounds is not None else (old - 1, old + 1)
        choices = [x for x in (old - 1, old + 1, lo, hi) if lo <= x <= hi and x != old]
        return rng.choice(choices) if choices else old
    if isinstance(old, str):
        if len(old) < 2:
            return old
        chars = list(old)
        i, j = rng.sample(range(len(chars)), 2)
        if rng.random() < 0.5:
            chars[i], chars[j] = chars[j], chars[i]
        else:
            chars[i] = chars[j]
        return "".join(chars)
    if isinstance(old, list) and len(old) >= 2:
        items = list(old)
        how = rng.randrange(4)
        if how == 0:
            items.reverse()
        elif how == 1:
            rng.shuffle(items)
        elif how == 2:
            i, j = rng.sample(range(len(items)), 2)
            items[i], items[j] = items[j], items[i]
        else:
            i, j = rng.sample(range(len(items)), 2)
            items[i] = copy.deepcopy(items[j])
        return items
    return old


def derive_inputs(inputs: Sequence[Any], n: int, seed: int = 0) -> list[Any]:
    """Up to `n` new argument lists/objects, each a gold input with one part perturbed.

    Deterministic for a given (inputs, n, seed); never returns one of `inputs` itself.
    """
    usable = [v for v in inputs if isinstance(v, (list, dict)) and len(v) > 0]
    if not usable or n <= 0:
        return []
    rng = random.Random(f"probes\0{seed}\0{_canon(usable)}")
    bounds = _ranges(usable)
    seen = {_canon(v) for v in usable}
    out: list[Any] = []
    for _ in range(n * _MAX_TRIES_PER_INPUT):
        if len(out) == n:
            break
        value = copy.deepcopy(rng.choice(usable))
        name = rng.choice(_arg_names(value))
        paths = _slots(value[name], (name,))
        if not paths:
            continue
        path = rng.choice(paths)
        _set(value, path, _perturb(_get(value, path), bounds.get(name), rng))
        key = _canon(value)
        if key not in seen:
            seen.add(key)
            out.append(value)
    return out
