"""Providers behind one interface: identical verdicts, one cache, faults that are never verdicts."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from atest_cli import run_cli
from sandbox_corpus import CORPUS, outcomes, stdio

from atest.core.errors import ExternalError, InputError
from atest.core.sandbox import Status, get_executor
from atest.core.sandbox.executor import FAULT_ATTEMPTS
from atest.core.sandbox.settings import ENV, SandboxSettings, resolve


@pytest.fixture(scope="module")
def local_outcomes():
    with get_executor(workers=2) as local:
        results = local.run([job for _, job, _ in CORPUS])
    return outcomes(results)


def test_the_corpus_gets_the_expected_statuses(local_outcomes):
    assert [o[0] for o in local_outcomes] == [status for _, _, status in CORPUS]


def test_subprocess_provider_judges_like_the_fork_server(local_outcomes):
    with get_executor(executor="subprocess", workers=2) as one_shot:
        assert one_shot.provider.name == "subprocess"
        results = one_shot.run([job for _, job, _ in CORPUS])
    for (name, _, _), ours, theirs in zip(CORPUS, local_outcomes, outcomes(results), strict=True):
        assert theirs == ours, name


def test_provider_comes_from_the_settings_never_the_environment(monkeypatch):
    """`resolve` reads the environment it is given (the CLI passes os.environ); get_executor
    itself reads none, so a library caller gets the defaults whatever the shell exported."""
    monkeypatch.setenv("ATEST_EXECUTOR", "subprocess")
    with get_executor(workers=1) as ex:
        assert ex.provider.name == "local"
    settings = resolve(env={"ATEST_EXECUTOR": "subprocess"})
    with get_executor(workers=1, settings=settings) as ex:
        assert ex.provider.name == "subprocess"
        assert ex.run([stdio("print(6 * 7)")])[0].output == "42\n"
    with pytest.raises(InputError, match="ATEST_EXECUTOR 'docker'"):
        resolve(env={"ATEST_EXECUTOR": "docker"})
    with pytest.raises(InputError, match="executor 'docker'"), get_executor(workers=1, executor="docker"):
        pass


def test_settings_layers_flag_over_environment_over_config():
    env = {"ATEST_EXECUTOR": "subprocess", "ATEST_SANDBOX_BATCH": "8", "ATEST_SANDBOX_TOKEN": "s3cret"}
    config = {"executor": "ray", "max_batch": 2, "isolation": "none"}
    assert resolve(config=config) == SandboxSettings(executor="ray", max_batch=2, isolation="none")
    both = resolve(env=env, config=config)
    assert (both.executor, both.max_batch, both.isolation, both.token) == ("subprocess", 8, "none", "s3cret")
    top = resolve({"executor": "local", "max_batch": 1}, env, config)
    assert (top.executor, top.max_batch, top.isolation) == ("local", 1, "none")
    # an address names its provider, on its own layer; beside another provider it is refused
    assert resolve(env={"ATEST_SANDBOX_URL": "http://127.0.0.1:9"}).executor == "sandboxfusion"
    assert resolve({"executor": "local"}, {"ATEST_RAY_ADDRESS": "auto"}).executor == "local"
    with pytest.raises(
        InputError, match="--sandbox-url runs programs on sandboxfusion, but --executor is 'ray'"
    ):
        resolve({"executor": "ray", "url": "http://127.0.0.1:9"})
    with pytest.raises(InputError, match="needs the server's URL"):
        resolve({"executor": "sandboxfusion"})
    with pytest.raises(InputError, match="ATEST_SANDBOX_BATCH"):
        resolve(env={"ATEST_SANDBOX_BATCH": "six"})
    assert "s3cret" not in repr(both)  # the token never shows in a log line
    assert SandboxSettings(executor="ray", ray_address="auto", max_batch=1).root_argv() == [
        "--executor", "ray", "--sandbox-batch", "1", "--ray-address", "auto",
    ]  # fmt: skip


def test_subprocess_provider_refuses_required_namespaces():
    with (
        pytest.raises(ExternalError, match="no namespaces"),
        get_executor("namespace", 1, executor="subprocess"),
    ):
        pass


def test_caching_and_deduplication_wrap_any_provider(tmp_path):
    job = stdio(f"print('{uuid.uuid4()}')")
    with get_executor(executor="subprocess", workers=1, cache_dir=tmp_path) as first:
        a = first.run([job, job, job])
        assert first.executed == 1 and len({r.output for r in a}) == 1
        first.run([job])
        assert first.executed == 1
    with get_executor(workers=1, cache_dir=tmp_path) as second:  # the local provider reads the same cache
        assert second.run([job])[0].output == a[0].output and second.executed == 0


def test_a_persistent_fault_fails_the_call_and_is_never_cached(tmp_path):
    """A real infrastructure failure: the provider's private directory is gone (a wiped /tmp)."""
    job = stdio(f"print('{uuid.uuid4()}')")
    with get_executor(executor="subprocess", workers=1, cache_dir=tmp_path) as ex:
        root = ex.provider._root
        shutil.rmtree(root)
        with pytest.raises(ExternalError) as failure:
            ex.run([job])
        assert failure.value.exit_code == 3
        assert "could not run a subprocess" in str(failure.value) and f"{FAULT_ATTEMPTS} times" in str(
            failure.value
        )
        assert ex.executed == 0 and ex.faults == FAULT_ATTEMPTS
        os.mkdir(root)
        result = ex.run([job])[0]
        assert result.status is Status.OK and ex.executed == 1  # ran again: the fault was not remembered


def test_a_worker_that_keeps_dying_is_a_fault_not_a_verdict():
    """Workers killed under every batch: no runtime-error verdict is produced, the call fails."""
    with get_executor(workers=1) as ex:
        stop = threading.Event()

        def killer():
            while not stop.is_set():
                for worker in ex.provider.pool.workers:
                    if worker.pid:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(worker.pid, signal.SIGKILL)
                stop.wait(0.02)

        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        try:
            with pytest.raises(ExternalError, match="sandbox failed"):
                ex.run([stdio("import time\ntime.sleep(0.3)\nprint(1)")])
        finally:
            stop.set()
            thread.join()
        assert ex.executed == 0
        assert ex.run([stdio("print(2)")])[0].output == "2\n"


def test_cli_executor_option():
    base = [sys.executable, "-m", "atest"]
    runs = {}
    for name in ("local", "subprocess"):
        proc = subprocess.run(
            [
                *base,
                "--executor",
                name,
                "prepare",
                "--source",
                "sample",
                "--limit",
                "2",
                "--verify",
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        runs[name] = json.loads(proc.stdout)
    assert runs["local"] == runs["subprocess"]
    bad = subprocess.run([*base, "--executor", "docker", "bon", "--help"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--executor 'docker'" in bad.stderr


def test_training_config_names_the_executor():
    from pydantic import ValidationError

    from atest.core.training.config import SandboxSection

    assert SandboxSection(executor="ray").executor == "ray"
    assert SandboxSection().executor is None  # a flag, else $ATEST_EXECUTOR, else local
    with pytest.raises(ValidationError):
        SandboxSection(executor="docker")


def test_ray_addresses_nothing_answers_at_fail_fast():
    for address in ("127.0.0.1:9", "ray://127.0.0.1:9"):
        with (
            pytest.raises(ExternalError, match="nothing answers") as failure,
            get_executor(executor="ray", ray_address=address),
        ):
            pass
        assert failure.value.exit_code == 3


def test_cli_ray_address_means_the_ray_executor():
    """An address alone runs programs on Ray (here: nothing answers, so the command fails fast
    naming it), and an address beside another executor is a contradiction, refused."""
    command = ["prepare", "--source", "sample", "--limit", "1", "--verify", "--json"]
    env = {k: v for k, v in os.environ.items() if k not in ENV.values()}
    alone = run_cli("--ray-address", "127.0.0.1:9", *command, env=env)
    assert alone.returncode == 3 and "nothing answers at --ray-address 127.0.0.1:9" in alone.stderr
    both = run_cli("--executor", "local", "--ray-address", "127.0.0.1:9", *command, env=env)
    assert both.returncode == 2 and "--executor is 'local'" in both.stderr and both.stdout == ""


def test_a_batch_that_fails_its_worker_twice_is_rerun_input_by_input():
    """Kill the worker under the first two runs of a batch: a trivial program then runs fine on
    the restarted worker, so each input runs alone and gets its own verdict; nothing is a fault."""
    jobs = [stdio("import time\ntime.sleep(0.3)\nprint(int(input()) * 2)", f"{i}\n") for i in range(3)]
    with get_executor(workers=1) as ex:
        kills: list[int] = []
        stop = threading.Event()

        def killer():
            while not stop.is_set() and len(kills) < 2:
                pid = ex.provider.pool.workers[0].pid
                children = Path(f"/proc/{pid}/task/{pid}/children")
                with contextlib.suppress(OSError):
                    if pid and children.read_text().split():
                        os.kill(pid, signal.SIGKILL)
                        kills.append(pid)
                stop.wait(0.01)

        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        try:
            results = ex.run(jobs)
        finally:
            stop.set()
            thread.join()
    assert len(kills) == 2 and len(set(kills)) == 2  # two different (restarted) workers
    assert [r.output for r in results] == ["0\n", "2\n", "4\n"] and ex.faults == 0
