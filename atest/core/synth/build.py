"""Turn family instances into verified tasks, and split them by family and by instance.

Expected outputs come from running each instance's gold program in the sandbox (the same
executor every metric uses), so a test's output is what the gold program prints, never a
hand-typed string. A bug is kept only if some gold test tells it apart from the gold program
(an equivalent bug is no bug to find), and a task only if its gold program ran cleanly on
every input and at least one bug survives.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from atest.core.errors import InputError
from atest.core.synth.families import FAMILIES, Family, Instance
from atest.core.tasks import Task

SOURCE = "atest-synth"
SPLITS = ("train", "val", "heldout-instance", "heldout-family")
_DEF = re.compile(r"^def (\w+)\(", re.M)


@dataclass
class SynthSummary:
    n_tasks: int = 0
    n_families: int = 0
    per_family: dict[str, int] = field(default_factory=dict)
    n_bugs: int = 0
    n_bugs_dropped_equivalent: int = 0
    n_dropped_tasks: int = 0
    n_executions: int = 0


def family_names(spec: str | Sequence[str] | None) -> list[str]:
    """The families a comma list (or None: all) names, refusing unknown names up front."""
    if spec is None or spec == "all":
        return list(FAMILIES)
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    unknown = [n for n in names if n not in FAMILIES]
    if unknown or not names:
        raise InputError(
            f"unknown family {', '.join(unknown) or '(none)'}", f"choose from: {', '.join(FAMILIES)}"
        )
    return names


def draw_instances(family: Family, per_family: int, rng: random.Random) -> list[Instance]:
    """Up to `per_family` instances with distinct statements (some families have fewer)."""
    seen: dict[str, Instance] = {}
    for _ in range(per_family * 25):
        inst = family.make(rng)
        seen.setdefault(inst.question, inst)
        if len(seen) >= per_family:
            break
    return list(seen.values())


def generate_tasks(
    executor: Any,
    per_family: int,
    seed: int = 0,
    families: Sequence[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[Task], SynthSummary]:
    """Instances of every named family, their outputs computed and their bugs checked in the sandbox.

    Two sandbox batches, not a call per program: every gold solution on its inputs, then every
    bug on its task's tests. A batch spreads over the sandbox's workers (403 calls one after
    another took 10 s of `synth --per-family 4`, mostly waiting on each child)."""
    from atest.core.checking import Batch, Test, completed, distinct_tests, passes
    from atest.core.sandbox import Limits, Program

    summary = SynthSummary()
    limits = Limits(cpu_seconds=2.0)
    drawn: list[tuple[Family, Instance]] = []
    for name in family_names(families):
        fam = FAMILIES[name]
        rng = random.Random(f"{seed}:{name}")
        drawn += [(fam, inst) for inst in draw_instances(fam, per_family, rng)]
    fn_names = [_fn_name(inst.gold) if fam.kind == "functional" else None for fam, inst in drawn]

    golds = Batch(limits)
    gold_slots = [
        [golds.add(Program(inst.gold, fam.kind, fn), x) for x in inst.inputs]
        for (fam, inst), fn in zip(drawn, fn_names, strict=True)
    ]
    golds.run(executor)
    bugs_batch = Batch(limits)
    checked: list[tuple[int, list[dict], list[tuple[str, list[int]]]]] = []  # (drawn index, tests, bug slots)
    for i, ((fam, inst), fn, slots) in enumerate(zip(drawn, fn_names, gold_slots, strict=True)):
        gold_runs = [golds[s] for s in slots]
        summary.n_executions += len(gold_runs)
        if not all(completed(run) for run in gold_runs):
            summary.n_dropped_tasks += 1
            continue
        tests = distinct_tests(
            [{"input": x, "output": run.output} for x, run in zip(inst.inputs, gold_runs, strict=True)],
            by="input",
        )
        bug_slots = [
            (bug, [bugs_batch.add(Program(bug, fam.kind, fn), t["input"]) for t in tests])
            for bug in dict.fromkeys(inst.bugs)
        ]
        checked.append((i, tests, bug_slots))
    bugs_batch.run(executor)

    tasks: list[Task] = []
    for i, tests, bug_slots in checked:
        fam, inst = drawn[i]
        bugs: list[str] = []
        for bug, slots in bug_slots:
            runs = [bugs_batch[s] for s in slots]
            summary.n_executions += len(runs)
            caught = any(
                not passes(run, test=Test.from_dict(t), kind=fam.kind)
                for run, t in zip(runs, tests, strict=True)
            )
            if caught and bug != inst.gold:
                bugs.append(bug)
            else:
                summary.n_bugs_dropped_equivalent += 1
        if not bugs:
            summary.n_dropped_tasks += 1
            continue
        summary.n_bugs += len(bugs)
        tasks.append(
            Task(
                task_id=f"synth-{fam.name}-{_slug(inst.params)}",
                question=inst.question,
                kind=fam.kind,  # type: ignore[arg-type]
                fn_name=fn_names[i],
                gold_solutions=[inst.gold],
                gold_tests=tests,
                buggy_code=bugs,
                difficulty="easy",
                source=SOURCE,
                extra={"family": fam.name},
            )
        )
        if progress is not None:
            progress(i + 1, len(drawn))
    tasks = _unique_ids(tasks)
    summary.n_tasks = len(tasks)
    for t in tasks:
        summary.per_family[t.extra["family"]] = summary.per_family.get(t.extra["family"], 0) + 1
    summary.n_families = len(summary.per_family)
    return tasks, summary


def split_tasks(
    tasks: Sequence[Task],
    heldout_families: int | Sequence[str],
    val_families: int | Sequence[str],
    heldout_instance_fraction: float,
    seed: int = 0,
) -> dict[str, list[Task]]:
    """train / val / heldout-instance / heldout-family, disjoint by statement.

    heldout-family holds whole families (ideas the trained model never sees), val other whole
    families, so choosing steps or settings on val mirrors the headline question without
    touching it; both take the families' input shapes (`input_shape`) in proportion. heldout-instance
    holds a fraction of every training family's instances (same idea, other parameters). Named
    families may be given instead of counts.
    """
    families = sorted({t.extra["family"] for t in tasks})
    shape_of: dict[str, str] = {}
    for task in tasks:
        if task.extra["family"] not in shape_of:
            shape_of[task.extra["family"]] = input_shape(task)
    order = _interleaved_by_stratum(families, shape_of, random.Random(f"split:{seed}"))
    held = _pick(heldout_families, order, families)
    rest = [f for f in order if f not in held]
    val = _pick(val_families, rest, families)
    out: dict[str, list[Task]] = {name: [] for name in SPLITS}
    by_family: dict[str, list[Task]] = {}
    for task in tasks:
        fam = task.extra["family"]
        if fam in held:
            out["heldout-family"].append(task)
        elif fam in val:
            out["val"].append(task)
        else:
            by_family.setdefault(fam, []).append(task)
    for fam in sorted(by_family):
        group = by_family[fam][:]
        random.Random(f"inst:{seed}:{fam}").shuffle(group)
        k = round(len(group) * heldout_instance_fraction) if len(group) > 1 else 0
        out["heldout-instance"] += group[:k]
        out["train"] += group[k:]
    return {name: [replace(t, split=name) for t in ts] for name, ts in out.items()}


def input_shape(task: Task) -> str:
    """What a test's input looks like, the stratum a family split keeps in proportion.

    A functional task: `fn`. A stdio task: one letter per line of its gold inputs, `1` where every
    input holds one token there, `n` where some hold several (`1` a number or word, `n` two
    integers on a line, `1n` a count and then a list). The third ATGEN cpu study drew three of
    the five `n` families into its held-out split by chance; its validation families all read
    one token, so it chose a step on inputs unlike the headline's (docs/reproduce.md).
    """
    if task.kind != "stdio":
        return "fn"
    lines = [str(t["input"]).splitlines() for t in task.gold_tests] or [[]]
    depth = max(len(ls) for ls in lines)
    return "".join(
        "n" if any(i < len(ls) and len(ls[i].split()) > 1 for ls in lines) else "1" for i in range(depth)
    )


def _interleaved_by_stratum(families: list[str], stratum_of: dict[str, str], rng: random.Random) -> list[str]:
    """Families shuffled within each stratum, then dealt in proportion to the strata's sizes, so
    the first k of the order (a held-out or validation split) mixes the strata as the whole set
    does rather than by chance."""
    groups: dict[str, list[str]] = {}
    for fam in families:
        groups.setdefault(stratum_of[fam], []).append(fam)
    for group in groups.values():
        rng.shuffle(group)
    taken = dict.fromkeys(groups, 0)
    order: list[str] = []
    for _ in families:
        stratum = min(
            (k for k in groups if taken[k] < len(groups[k])),
            key=lambda k: ((taken[k] + 0.5) / len(groups[k]), k),
        )
        order.append(groups[stratum][taken[stratum]])
        taken[stratum] += 1
    return order


def _pick(spec: int | Sequence[str], order: list[str], known: list[str]) -> set[str]:
    if isinstance(spec, int):
        if spec < 0 or spec >= len(order):
            raise InputError(
                f"cannot hold out {spec} of the {len(order)} families left", "hold out fewer families"
            )
        return set(order[:spec])
    unknown = [f for f in spec if f not in known]
    if unknown:
        raise InputError(f"unknown family {', '.join(unknown)}", f"choose from: {', '.join(known)}")
    return set(spec)


def _fn_name(gold: str) -> str:
    match = _DEF.search(gold)
    if match is None:
        raise ValueError("a functional family's gold program defines no function")
    return match.group(1)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "x"


def _unique_ids(tasks: list[Task]) -> list[Task]:
    seen: dict[str, int] = {}
    for task in tasks:
        n = seen.get(task.task_id, 0)
        seen[task.task_id] = n + 1
        if n:
            task.task_id = f"{task.task_id}-{n}"
    return tasks
