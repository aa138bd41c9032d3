"""ATGEN metrics: rates by hand, parse failures in the denominator, the CLI end to end."""

from __future__ import annotations

import json

import evalcases
import pytest
from atest_cli import run_cli

from atest.core.metrics.attack import AttackUnit, attack_report


def _units():
    return [
        # easy task e1: accurate+attacking, accurate not attacking, wrong y but input attacks
        AttackUnit("e1", "easy", parsed=True, valid_input=True, io_accurate=True, input_attack=True),
        AttackUnit("e1", "easy", parsed=True, valid_input=True, io_accurate=True, input_attack=False),
        AttackUnit("e1", "easy", parsed=True, valid_input=True, io_accurate=False, input_attack=True),
        # hard task h1: invalid input, then a parse failure
        AttackUnit("h1", "hard", parsed=True, valid_input=False),
        AttackUnit("h1", "hard", parsed=False),
    ]


def test_rates_by_hand():
    r = attack_report(_units())
    assert r["n_units"] == 5
    assert r["n_tasks"] == 2
    assert r["io_accuracy"] == pytest.approx(2 / 5)
    assert r["attack_rate"] == pytest.approx(1 / 5)
    assert r["input_attack_rate"] == pytest.approx(2 / 5)
    assert r["invalid_input_rate"] == pytest.approx(1 / 5)
    assert r["parse_failure_rate"] == pytest.approx(1 / 5)


def test_split_by_difficulty():
    r = attack_report(_units())
    assert set(r["by_difficulty"]) == {"easy", "hard"}
    easy = r["by_difficulty"]["easy"]
    assert (easy["io_accuracy"], easy["attack_rate"], easy["input_attack_rate"]) == pytest.approx(
        (2 / 3, 1 / 3, 2 / 3)
    )
    hard = r["by_difficulty"]["hard"]
    assert (hard["io_accuracy"], hard["invalid_input_rate"], hard["parse_failure_rate"]) == (0.0, 0.5, 0.5)
    # a single task cannot be resampled into anything but itself
    assert easy["attack_rate_ci95"] == pytest.approx([1 / 3, 1 / 3])


def test_attack_needs_io_accuracy():
    u = AttackUnit("t", "easy", parsed=True, valid_input=True, io_accurate=False, input_attack=True)
    assert not u.attack


# ---- end to end through the sandbox, on the hand-built fixture in evalcases.py ----


def attack_cli(tmp_path, rows, *extra):
    tasks, _ = evalcases.write_case(tmp_path)
    tests = evalcases.write_jsonl(tmp_path / "atgen.jsonl", rows)
    return run_cli(
        "attack-eval", "--tasks", str(tasks), "--tests", str(tests), "--cpu-seconds", evalcases.CPU, *extra
    )


def test_cli_attack_eval_by_hand(tmp_path):
    proc = attack_cli(tmp_path, evalcases.ATGEN_ROWS, "--json")
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    # six units (see evalcases): accurate r1 r3 r4; attack r1 r4; input attack r1 r2 r4;
    # invalid r5; parse failure r6.
    assert (s["n_units"], s["n_tasks"]) == (6, 2)
    assert s["io_accuracy"] == pytest.approx(3 / 6)
    assert s["attack_rate"] == pytest.approx(2 / 6)
    assert s["input_attack_rate"] == pytest.approx(3 / 6)
    assert s["invalid_input_rate"] == pytest.approx(1 / 6)
    assert s["parse_failure_rate"] == pytest.approx(1 / 6)
    easy, hard = s["by_difficulty"]["easy"], s["by_difficulty"]["hard"]
    assert (easy["io_accuracy"], easy["attack_rate"], easy["input_attack_rate"]) == pytest.approx(
        (2 / 3, 1 / 3, 2 / 3)
    )
    assert (hard["io_accuracy"], hard["attack_rate"], hard["invalid_input_rate"]) == pytest.approx(
        (1 / 3, 1 / 3, 1 / 3)
    )


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"task_id": "A", "buggy_index": 7, "tests": []}, "buggy_index 7 but task 'A' has 2 buggy codes"),
        ({"task_id": "A", "tests": []}, "needs 'buggy_code' or 'buggy_index'"),
        ({"task_id": "Q", "buggy_index": 0, "tests": []}, "task_id 'Q' is not in the tasks file"),
    ],
)
def test_cli_attack_eval_bad_rows(tmp_path, row, message):
    proc = attack_cli(tmp_path, [row])
    assert proc.returncode == 2
    assert message in proc.stderr


def test_cli_attack_eval_keeps_an_existing_out_unless_forced(tmp_path):
    """The write policy of every command: checked before any program runs, replaced only with
    --force and only once the rates are computed."""
    out = tmp_path / "units.jsonl"
    out.write_text("keep me\n")
    proc = attack_cli(tmp_path, evalcases.ATGEN_ROWS, "--out", str(out), "--json")
    assert proc.returncode == 2 and "--force" in json.loads(proc.stdout)["error"]["hint"]
    assert out.read_text() == "keep me\n"
    proc = attack_cli(tmp_path, evalcases.ATGEN_ROWS, "--out", str(out), "--force")
    assert proc.returncode == 0, proc.stderr
    assert len(out.read_text().splitlines()) == 6  # one line per unit
