"""The study's easy-task splits: whole families held out, and instances of the training families.

`build_splits` is the one place that decides which task goes where. A held-out-by-family
split measures generalisation to kinds of problem never trained on (the headline figure);
a held-out-by-instance split, beside it, measures new problems of the trained kinds. The
split is decided on statements only (no model, no metric), with the preset's seed, so it
never depends on a result. The files it writes are raw: each then goes through
`atest prepare --verify --mutants --exclude train` as a step of its own.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from atest.core.errors import InputError
from atest.core.io import write_jsonl_atomic
from atest.core.reproduce.preset import POOL_SPLITS, DataSection

PACKAGE = Path(__file__).resolve().parents[2]


def split_sizes(data: DataSection) -> dict[str, int]:
    return dict(data.pool.sizes) if data.pool else {n: s.limit for n, s in data.prepared.items() if s.limit}


def pool_split_paths(data: DataSection, folder: Path) -> dict[str, Path]:
    """Where `build_splits` writes each raw split (known before it runs, for the plan); a split of
    size 0 is left out of the study (a quick check without heldout-instance, say)."""
    if not data.pool:
        return {}
    return {
        n: folder / "raw" / f"{n}.jsonl" for n in POOL_SPLITS if data.pool.sizes.get(n) != 0 or n == "train"
    }


def family(row: dict[str, Any]) -> str:
    """A task's family: the generator's `family`, else its source (bundled files)."""
    extra = row.get("extra") if isinstance(row.get("extra"), dict) else {}
    return str(row.get("family") or extra.get("family") or row.get("source") or "unknown")


def _pool_rows(data: DataSection, folder: Path) -> list[dict[str, Any]]:
    pool = data.pool
    assert pool is not None
    files = [folder / "synth.jsonl"] if pool.source == "synth" else [PACKAGE / f for f in pool.files]
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for path in files:
        if not path.is_file():
            raise InputError(f"{path}: task pool file missing", "check data.pool.files in the preset")
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                if row["task_id"] not in seen:
                    seen.add(row["task_id"])
                    rows.append(row)
    return rows


def build_splits(data: DataSection, out_dir: Path) -> dict[str, Path]:
    """Write train / val / heldout-family / heldout-instance task files under `out_dir/raw`.

    Held-out families: `data.pool.heldout_families` names them, or gives how many to draw
    (seeded) from the families sorted by name. Every other task is shuffled (seeded) and dealt
    to heldout-instance, val and train in that order, each up to its `sizes` entry (train
    takes the rest when it has none).
    """
    pool = data.pool
    if pool is None:
        return {}
    rows = _pool_rows(data, out_dir)
    if pool.source == "synth":
        return _synth_splits(data, rows, out_dir)
    families = sorted({family(r) for r in rows})
    rng = random.Random(pool.seed)
    if isinstance(pool.heldout_families, list):
        held = pool.heldout_families
        unknown = set(held) - set(families)
        if unknown:
            raise InputError(
                f"data.pool.heldout_families: {sorted(unknown)} not among the pool's families",
                f"choose from: {', '.join(families)}",
            )
    else:
        if pool.heldout_families >= len(families):
            raise InputError(
                f"data.pool.heldout_families is {pool.heldout_families} but the pool has {len(families)} families",
                "hold out fewer, so some family is left to train on",
            )
        held = sorted(rng.sample(families, pool.heldout_families))
    sizes = pool.sizes
    held_rows = [r for r in rows if family(r) in held]
    rest = [r for r in rows if family(r) not in held]
    rng.shuffle(held_rows)
    rng.shuffle(rest)
    splits: dict[str, list[dict[str, Any]]] = {"heldout-family": held_rows[: sizes.get("heldout-family")]}
    for name in ("heldout-instance", "val", "train"):
        take = sizes.get(name, len(rest))
        splits[name], rest = rest[:take], rest[take:]
    paths = pool_split_paths(data, out_dir)
    for name, path in paths.items():
        if not splits[name]:
            raise InputError(f"split {name} is empty", "raise data.pool.sizes or the pool's size")
        write_jsonl_atomic(path, splits[name])
    write_jsonl_atomic(
        out_dir / "raw" / "families.jsonl",
        [{"family": f, "heldout": f in held, "n_tasks": sum(family(r) == f for r in rows)} for f in families],
    )
    return paths


def _synth_splits(data: DataSection, rows: list[dict[str, Any]], out_dir: Path) -> dict[str, Path]:
    """The generator's own split (atest.core.synth.split_tasks: validation and held-out families
    mix stdio and functional ones), each split then capped at its `sizes` entry."""
    from atest.core.synth import split_tasks
    from atest.core.tasks import task_from_dict

    pool = data.pool
    assert pool is not None
    parts = split_tasks(
        [task_from_dict(r) for r in rows],
        pool.heldout_families,
        pool.val_families,
        pool.heldout_instance_fraction,
        seed=pool.seed,
    )
    paths = pool_split_paths(data, out_dir)
    for name, path in paths.items():
        part = _round_robin(parts[name])[: pool.sizes.get(name)]
        if not part:
            raise InputError(
                f"split {name} is empty", "raise data.pool.per_family or hold out fewer families"
            )
        write_jsonl_atomic(path, [t.to_dict() for t in part])
    return paths


def _round_robin(tasks: list[Any]) -> list[Any]:
    """Tasks dealt one family at a time, so a split capped by `sizes` keeps every family in it."""
    groups: dict[str, list[Any]] = {}
    for task in tasks:
        groups.setdefault(task.extra["family"], []).append(task)
    out: list[Any] = []
    while any(groups.values()):
        for group in groups.values():
            if group:
                out.append(group.pop(0))
    return out
