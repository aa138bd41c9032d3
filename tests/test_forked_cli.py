"""The suite's fork server (tests/forked_cli.py): a forked `atest` command is the command a fresh
`python -m atest` runs, with the same output, exit code, working directory and environment, and
whatever a fork cannot reproduce runs the real way."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from forked_cli import SERVER, SuiteForks

from atest.core.forkrun import ForkLost, ForkServer, cpu_only_machine


@pytest.fixture(scope="module")
def server():
    """The worker's own forks (its server already started where an earlier test ran a command),
    or, where the suite runs every command the real way (ATEST_TEST_FORK=0), this module's own."""
    if not cpu_only_machine():
        pytest.skip("a GPU device node: nothing forks on this machine")
    if not SERVER.off:
        yield SERVER
        return
    own = SuiteForks()
    own.off = False
    yield own
    own.server.close()


def real(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "atest", *args],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        env=env,
    )


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("train", "--print-config", "--preset", "cpu-smoke", "--mode", "atgen-adaptive"),
        (
            "gen-tests",
            "--tasks",
            "no-such-file.jsonl",
            "--model",
            "tiny-random",
            "--out",
            "x.jsonl",
        ),  # exit 2
        ("nonsense-command",),  # click's usage error: exit 2, its message on stderr
    ],
)
def test_a_forked_command_prints_and_exits_as_a_fresh_interpreter_does(server, args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = dict(os.environ)
    forked = server.run(args, 300, env)
    assert forked is not None, "the command ran the real way: the fork server is not in use"
    fresh = real(*args, env=env)
    assert (forked.returncode, forked.stdout, forked.stderr) == (fresh.returncode, fresh.stdout, fresh.stderr)
    assert forked.args == [sys.executable, "-m", "atest", *args]
    assert not (tmp_path / "x.jsonl").exists()


def test_a_forked_command_runs_in_the_callers_directory_and_environment(server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {**os.environ, "ATEST_SANDBOX": "none"}  # atest's own settings are read when a command runs
    args = ("prepare", "--source", "sample", "--limit", "2", "--verify", "--out", "tasks.jsonl", "--json")
    proc = server.run(args, 300, env)
    assert proc is not None and proc.returncode == 0, proc and proc.stderr
    assert "isolation is off" in proc.stderr
    assert json.loads(proc.stdout)["out"].endswith("tasks.jsonl")
    assert len((tmp_path / "tasks.jsonl").read_text().splitlines()) == 2
    # a child's exit is its own: the server goes on serving after a failure
    failed = server.run(("prepare", "--source", "nonsense"), 300, dict(os.environ))
    assert failed is not None and failed.returncode == 2
    assert server.run(("--help",), 300, dict(os.environ)).returncode == 0


def test_an_environment_a_library_reads_at_import_runs_the_real_way(server):
    base = dict(os.environ)
    for name in ("PYTHONPROFILEIMPORTTIME", "PYTHONPATH", "HF_HOME", "OMP_NUM_THREADS"):
        changed = {**base, name: base.get(name, "") + "7"}
        assert server.run(("--help",), 300, changed) is None, name
    assert server.run(("--help",), 300, {k: v for k, v in base.items() if k != "PATH"}) is None
    assert (
        server.run(("--help",), 300, {**base, "OPENAI_API_KEY": "unused", "ATEST_SANDBOX": "none"})
        is not None
    )


def test_a_command_past_its_timeout_is_killed_and_the_server_serves_on(server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    start = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        server.run(("sandbox", "serve", "--port", "0"), 3, dict(os.environ))  # serves until killed
    assert time.monotonic() - start < 30
    assert server.run(("--help",), 300, dict(os.environ)).returncode == 0


def test_a_second_command_while_one_runs_takes_the_real_way(server):
    assert server.lock.acquire(blocking=False)  # as a command in another thread would hold it
    try:
        assert server.run(("--help",), 300, dict(os.environ)) is None
    finally:
        server.lock.release()


def children_of(pid: int) -> list[int]:
    """`pid`'s children, as the kernel lists them per thread (the idiom of bench/trl_overhead.py)."""
    tasks = Path(f"/proc/{pid}/task")
    return [int(c) for task in tasks.iterdir() for c in (task / "children").read_text().split()]


def test_a_server_that_dies_under_a_command_ends_it_and_says_so(tmp_path, monkeypatch):
    """The command's fate is unknown then: ForkLost (a reproduce step turns it into exit 3 and the
    rerun hint), never a silent rerun; the child does not outlive its server."""
    if not cpu_only_machine():
        pytest.skip("a GPU device node: nothing forks on this machine")
    monkeypatch.chdir(tmp_path)
    own = ForkServer(sessions=True, quiet=True)
    own.start()
    server_pid = own._proc.pid
    children: list[int] = []

    def kill_the_server() -> None:
        children.extend(children_of(server_pid))
        os.kill(server_pid, signal.SIGKILL)

    threading.Timer(3, kill_the_server).start()
    with pytest.raises(ForkLost, match="died while running `atest sandbox serve"):
        own.run(
            ["sandbox", "serve", "--port", "0"],
            env=dict(os.environ),
            stdout=tmp_path / "o",
            stderr=tmp_path / "e",
        )
    assert not own.started and len(children) == 1
    time.sleep(0.5)
    state = "gone"
    with contextlib.suppress(FileNotFoundError):
        state = Path(f"/proc/{children[0]}/stat").read_text().rsplit(") ", 1)[1][0]
    assert state in ("gone", "Z", "X")
