"""The command line as a script sees it: help, version, exit codes, stdout discipline."""

from __future__ import annotations

import json

import pytest
from atest_cli import run_cli

MISSION_COMMANDS = ["prepare", "train", "merge-lora", "gen-tests", "bon", "fidelity", "attack-eval", "filter"]


def test_help_lists_every_mission_command_with_a_description():
    proc = run_cli("--help")
    assert proc.returncode == 0
    for name in MISSION_COMMANDS:
        line = next((ln for ln in proc.stdout.splitlines() if ln.strip().startswith(name + " ")), None)
        assert line is not None, f"{name} missing from --help"
        assert len(line.split(None, 1)) == 2, f"{name} has no one-line description"


def test_version():
    from atest import __version__

    proc = run_cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"atest {__version__}"


@pytest.mark.parametrize("name", MISSION_COMMANDS)
def test_each_command_has_help(name):
    proc = run_cli(name, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "--" in proc.stdout


def test_unknown_command_is_a_usage_error():
    proc = run_cli("no-such-command")
    assert proc.returncode == 2
    assert proc.stdout == ""


def test_json_output_is_strict_json(capsys):
    from atest.commands._common import emit_json

    def reject(name: str) -> None:
        raise ValueError(f"non-standard JSON constant {name}")

    emit_json({"rho": float("nan"), "curve": [1.0, float("inf"), (2, float("-inf"))], "n": 3})
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert json.loads(out, parse_constant=reject) == {"rho": None, "curve": [1.0, None, [2, None]], "n": 3}
