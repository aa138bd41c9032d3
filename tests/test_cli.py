"""The command line as a script sees it: help, version, exit codes, stdout discipline."""

from __future__ import annotations

import json
import re

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


def _registered_options() -> dict[str, list[str]]:
    """Every registered command with the flags it declares (hidden ones left out)."""
    import typer

    from atest.cli import app

    group = typer.main.get_command(app)
    return {
        name: [
            max(param.opts, key=len)
            for param in command.params
            if param.param_type_name == "option" and not param.hidden
        ]
        for name, command in group.commands.items()
    }


def test_every_mission_command_is_registered():
    assert set(MISSION_COMMANDS) <= set(_registered_options())


@pytest.mark.parametrize("name", sorted(_registered_options()))
def test_each_command_help_names_its_own_options(name):
    proc = run_cli(name, "--help")
    assert proc.returncode == 0, proc.stderr
    assert re.search(rf"^Usage: .*atest {name} ", proc.stdout, re.M), proc.stdout[:200]
    flags = set(re.findall(r"--[a-z][a-z0-9-]*", proc.stdout))
    missing = [opt for opt in _registered_options()[name] if opt not in flags]
    assert not missing, f"atest {name} --help does not show {missing}"


def test_unknown_command_is_a_usage_error():
    proc = run_cli("no-such-command")
    assert proc.returncode == 2
    assert proc.stdout == ""


def test_error_messages_print_brackets_as_written(tmp_path):
    """An error line is plain text: a path or an extra like `atest[ray]` keeps its brackets."""
    missing = tmp_path / "[ray]" / "tasks.jsonl"
    done = run_cli("fidelity", "--tasks", str(missing), "--tests", "ground_truth")
    assert done.returncode == 2 and f"{missing}: no such file" in done.stderr


def test_json_output_is_strict_json(capsys):
    from atest.commands._common import emit_json

    def reject(name: str) -> None:
        raise ValueError(f"non-standard JSON constant {name}")

    emit_json({"rho": float("nan"), "curve": [1.0, float("inf"), (2, float("-inf"))], "n": 3})
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert json.loads(out, parse_constant=reject) == {"rho": None, "curve": [1.0, None, [2, None]], "n": 3}
