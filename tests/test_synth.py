"""Generated easy tasks: every gold verified in the sandbox, every bug caught, splits disjoint."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
from atest_cli import run_cli

from atest.core.checking import Test, passes
from atest.core.errors import InputError
from atest.core.loaders.humaneval import io_pairs_from_check
from atest.core.sandbox import Job, Limits, Program, get_executor
from atest.core.synth import FAMILIES, family_names, generate_tasks, split_tasks
from atest.core.synth.build import draw_instances, input_shape


@pytest.fixture(scope="module")
def generated():
    with get_executor(workers=2) as executor:
        tasks, summary = generate_tasks(executor, per_family=3, seed=1)
    return tasks, summary


def test_every_family_yields_tasks_with_bugs(generated):
    tasks, summary = generated
    assert summary.n_families == len(FAMILIES)
    assert all(t.buggy_code and t.gold_tests and t.extra["family"] in FAMILIES for t in tasks)
    assert len({t.task_id for t in tasks}) == len(tasks)
    assert len({t.question for t in tasks}) == len(tasks)


def test_gold_passes_and_every_bug_fails_a_gold_test(generated):
    tasks, _ = generated
    jobs, checks = [], []
    for t in tasks:
        for code, expect in [(t.gold_solutions[0], True)] + [(b, False) for b in t.buggy_code]:
            start = len(jobs)
            jobs += [
                Job(Program(code, t.kind, t.fn_name), x["input"], Limits(cpu_seconds=2.0))
                for x in t.gold_tests
            ]
            checks.append((t, expect, start))
    with get_executor(workers=2) as executor:
        runs = executor.run(jobs)
    for t, expect, start in checks:
        ok = all(
            passes(run, test=Test.from_dict(test), kind=t.kind)
            for run, test in zip(runs[start : start + len(t.gold_tests)], t.gold_tests, strict=True)
        )
        assert ok is expect, (t.task_id, expect)


class CountingExecutor:
    """The real sandbox, counting the calls made to it."""

    def __init__(self, inner):
        self.inner, self.calls = inner, []

    def run(self, jobs):
        self.calls.append(len(jobs))
        return self.inner.run(jobs)


def test_generation_checks_every_gold_then_every_bug_in_two_sandbox_calls(generated):
    """Two batches spread over the sandbox's workers, whatever the number of tasks (a call per
    program took 10 s of `synth --per-family 4`, waiting on each child in turn); the same tasks."""
    with get_executor(workers=2) as inner:
        counting = CountingExecutor(inner)
        tasks, summary = generate_tasks(counting, per_family=3, seed=1, families=["affine", "fn_sum_list"])
    assert len(counting.calls) == 2 and min(counting.calls) > 2 * len(tasks)
    everything, _ = generated
    assert tasks == [t for t in everything if t.extra["family"] in ("affine", "fn_sum_list")]
    assert summary.n_tasks == len(tasks) and summary.n_executions >= sum(counting.calls)


def test_same_seed_same_tasks_other_seed_other_parameters():
    fam = FAMILIES["affine"]
    a = [i.question for i in draw_instances(fam, 5, random.Random("0:affine"))]
    b = [i.question for i in draw_instances(fam, 5, random.Random("0:affine"))]
    c = [i.question for i in draw_instances(fam, 5, random.Random("1:affine"))]
    assert a == b and a != c


def test_splits_are_disjoint_and_held_out_families_unseen(generated):
    tasks, _ = generated
    parts = split_tasks(tasks, heldout_families=5, val_families=3, heldout_instance_fraction=0.34, seed=0)
    fams = {name: {t.extra["family"] for t in part} for name, part in parts.items()}
    assert len(fams["heldout-family"]) == 5 and len(fams["val"]) == 3
    assert not fams["heldout-family"] & (fams["train"] | fams["val"] | fams["heldout-instance"])
    assert not fams["val"] & fams["train"]
    assert fams["heldout-instance"] <= fams["train"]
    ids = [t.task_id for part in parts.values() for t in part]
    assert len(ids) == len(set(ids)) == len(tasks)
    assert all(t.split == name for name, part in parts.items() for t in part)


def test_input_shape_names_lines_and_tokens(generated):
    tasks, _ = generated
    shape = {t.extra["family"]: input_shape(t) for t in tasks}
    assert shape["affine"] == shape["count_letter"] == "1"
    assert shape["two_ops"] == shape["gcd_lcm"] == "n"
    assert shape["sum_above"] == "1n"
    assert shape["fn_is_sorted"] == "fn"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_held_out_and_validation_families_take_input_shapes_in_proportion(generated, seed):
    """With 6 of 25 families held out (12 read one token, 5 several on a line, 4 a count and a
    list, 4 are functional), no shape may fill the held-out split by chance: each gets its share
    rounded, give or take one (the third ATGEN study's split held out 3 of the 5 `n` families)."""
    tasks, _ = generated
    shape = {t.extra["family"]: input_shape(t) for t in tasks}
    parts = split_tasks(tasks, heldout_families=6, val_families=4, heldout_instance_fraction=0.25, seed=seed)
    total = Counter(shape.values())
    for name, k in (("heldout-family", 6), ("val", 4)):
        got = Counter(shape[f] for f in {t.extra["family"] for t in parts[name]})
        for stratum, n in total.items():
            assert abs(got[stratum] - k * n / len(shape)) <= 1, (name, stratum, got)


def test_unknown_family_is_refused():
    with pytest.raises(InputError, match="unknown family nope"):
        family_names("affine,nope")


def test_humaneval_asserts_become_io_pairs():
    check = (
        "def check(candidate):\n"
        "    assert candidate([1, 2], 3) == (1, 2)\n"
        "    assert abs(candidate(1.5) - 0.5) < 1e-6\n"
        "    assert candidate('x') is True\n"
        "    assert not candidate('')\n"
        "    for i in range(3):\n        assert candidate(i) == i\n"
        "    assert candidate(x=1) == 2\n"
    )
    assert io_pairs_from_check(check) == [
        {"input": [[1, 2], 3], "output": [1, 2]},
        {"input": [1.5], "output": 0.5},
        {"input": ["x"], "output": True},
        {"input": [""], "output": False},
    ]


@pytest.mark.slow
def test_synth_cli_writes_splits_and_humaneval_verifies(tmp_path):
    out = tmp_path / "all.jsonl"
    result = run_cli(
        "synth", "--per-family", "2", "--families", "affine,clamp,threshold,fn_is_sorted", "--out", str(out),
        "--splits", str(tmp_path / "s"), "--heldout-families", "1", "--val-families", "1", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["n_tasks"] == sum(s["n_tasks"] for s in summary["splits"].values())
    assert (tmp_path / "s" / "heldout-family.jsonl").exists()
    bad = run_cli("synth", "--families", "nope", "--out", str(tmp_path / "x.jsonl"))
    assert bad.returncode == 2 and "unknown family" in bad.stderr
    he = run_cli(
        "prepare",
        "--source",
        "humaneval",
        "--limit",
        "6",
        "--verify",
        "--out",
        str(tmp_path / "he.jsonl"),
        "--json",
    )
    assert he.returncode == 0, he.stderr
    assert json.loads(he.stdout)["n_gold_verified"] >= 5
