"""`atest train` under `torchrun --nproc_per_node 2` on CPU (gloo): the path every GPU cluster run takes.

What must hold with two processes: the run folder is created and resumed by one process, the
generation phases are shared out and written once (no task's rows twice, the same rows as one
process), progress and errors are printed once, a process that dies stops the launch instead
of leaving the other waiting, and a resumed launch continues the same state on both.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from test_train_e2e import assert_loads_and_generates, primed_model, sum_tasks, task_file  # noqa: F401

from atest.core.training.run.run_dir import RunDir


def torchrun(*args: str) -> list[str]:
    # --standalone: a free port of its own, so that two launches on one machine never meet.
    return [
        "nice", "-n", "10", sys.executable, "-m", "torch.distributed.run", "--standalone",
        "--nproc_per_node", "2", "-m", "atest", "train", *args,
    ]  # fmt: skip


def run2(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(torchrun(*args), capture_output=True, text=True, timeout=timeout)


def worker_lines(stderr: str) -> list[str]:
    """stderr without torchrun's own lines (its banner, and its report of a failed worker)."""
    own = ("W1", "E1", "I1", "*****", "Traceback", "  File", "    ", "torch.distributed", "===", "---")
    return [line for line in stderr.splitlines() if not line.startswith(own)]


def assert_rows_once_per_task(out: Path, task_ids: set[str]) -> None:
    """Every file of task rows holds each task exactly once (no process wrote its own copy)."""
    files = [p for p in out.rglob("*.jsonl") if p.name != "metrics.jsonl"]
    assert files
    for path in files:
        ids = Counter(json.loads(line)["task_id"] for line in path.read_text().splitlines())
        assert set(ids) == task_ids and set(ids.values()) == {1}, (path, ids)


@pytest.mark.slow
def test_utrl_on_two_processes_shares_generation_and_writes_everything_once(
    tmp_path,
    primed_model,  # noqa: F811
    task_file,  # noqa: F811
):
    out = tmp_path / "run"
    proc = run2(
        "--mode", "utrl", "--preset", "cpu-smoke", "--tasks", str(task_file), "--out", str(out), "--json",
        "--set", f"test_model.path={primed_model}", "--set", f"code_model.path={primed_model}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)  # one JSON object: the other process printed nothing on stdout
    for phase in ("iter1/test_train", "iter1/code_train", "iter2/test_train", "iter2/code_train"):
        assert summary["rewards"][phase]["steps"] == 2  # the preset's steps, as on one process
    lines = worker_lines(proc.stderr)
    assert sum(line.startswith("utrl on 4 task(s)") for line in lines) == 1
    assert sum("final/test_generator: saved" in line for line in lines) == 1
    assert sum("final/code_generator: saved" in line for line in lines) == 1
    assert sum(line.startswith("iter1/test_train step 1/2") for line in lines) == 1

    task_ids = {t.task_id for t in sum_tasks()}
    assert_rows_once_per_task(out, task_ids)
    steps = Counter((r["phase"], r["step"]) for r in map(json.loads, (out / "metrics.jsonl").open()))
    assert set(steps.values()) == {1} and len(steps) == 8
    ledger = json.loads((out / "run.json").read_text())
    assert [h["event"] for h in ledger["history"]] == ["start"]
    assert all(ledger["phases"][f"iter{i}/{p}_train"]["steps"] == 2 for i in (1, 2) for p in ("test", "code"))
    for role in ("test_generator", "code_generator"):
        assert not list((out / "final").glob(f".{role}*"))  # no temporary or second copy left
        assert_loads_and_generates(out / "final" / role)

    # The opponents of iteration 1 (sampled from the untrained code model) are the rows one
    # process draws from the same model with the same seed.
    one_process = sample_opponents_alone(primed_model, tmp_path / "alone.jsonl")
    shared = [json.loads(line) for line in (out / "iter1/opponents/samples.jsonl").read_text().splitlines()]
    assert shared == one_process


def sample_opponents_alone(model: Path, path: Path) -> list[dict]:
    """iter1/opponents' sampling as the loop does it, in this one process."""
    import torch

    from atest.core.generation import SamplingParams
    from atest.core.prompts import build_messages
    from atest.core.training.config import load_config
    from atest.core.training.phases.sampling import open_generator, sample_resumable

    cfg = load_config("utrl", preset="cpu-smoke").utrl.opponents
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the workers (the preset's `threads: 1`): the same float sums
    try:
        params = SamplingParams(
            temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens, n=cfg.n, seed=1
        )
        with open_generator("hf", model) as generator:
            return sample_resumable(
                path,
                sum_tasks(),
                generator=generator,
                params=params,
                build_prompt=lambda t: build_messages("utrl-code", t, thinking=False),
                to_row=lambda t, texts: {"task_id": t.task_id, "responses": texts},
            )
    finally:
        torch.set_num_threads(threads)


def worker_pids(launcher: int) -> dict[int, int]:
    """rank -> pid of the launcher's worker processes."""
    children = Path(f"/proc/{launcher}/task/{launcher}/children").read_text().split()
    out = {}
    for pid in map(int, children):
        env = dict(
            item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in item
        )
        if "RANK" in env:
            out[int(env["RANK"])] = pid
    return out


@pytest.mark.slow
def test_atgen_adaptive_killed_on_one_process_stops_and_resumes_on_two(
    tmp_path,
    primed_model,  # noqa: F811
    task_file,  # noqa: F811
):
    out = tmp_path / "run"
    steps = 4
    cmd = torchrun(
        "--mode", "atgen-adaptive", "--preset", "cpu-smoke", "--tasks", str(task_file), "--out", str(out),
        "--set", f"test_model.path={primed_model}", "--set", f"atgen.adversary.model={primed_model}",
        "--set", f"atgen.max_steps={steps}",
    )  # fmt: skip
    # `nice` execs the launcher, so the pid is the launcher's own.
    launch = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    checkpoints = out / "atgen/train/checkpoints"
    deadline = time.monotonic() + 600
    while not list(checkpoints.glob("checkpoint-*/trainer_state.json")):
        assert launch.poll() is None, launch.stderr.read()[-3000:]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    workers = worker_pids(launch.pid)
    assert sorted(workers) == [0, 1]
    os.kill(workers[1], signal.SIGKILL)  # e.g. the OOM killer, on the process that is not main
    stderr = launch.communicate(timeout=120)[1]  # the launch stops: rank 0 does not wait forever
    assert launch.returncode != 0
    assert "SIGKILL" in stderr
    for pid in workers.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    killed_at = max(
        int(p.parent.name.split("-")[1]) for p in checkpoints.glob("checkpoint-*/trainer_state.json")
    )
    assert killed_at < steps

    resumed = run2("--resume", "--out", str(out), "--json")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    lines = worker_lines(resumed.stderr)
    assert sum(f"resuming from checkpoints/checkpoint-{killed_at}" in line for line in lines) == 1
    summary = json.loads(resumed.stdout)
    assert summary["rewards"]["atgen/train"]["steps"] == steps

    rows = RunDir.resume(out).read_metrics()
    assert [r["step"] for r in rows] == list(range(1, steps + 1))  # as many optimizer steps as one process
    ledger = json.loads((out / "run.json").read_text())
    assert [h["event"] for h in ledger["history"]][:2] == ["start", "resume"]
    done = ledger["phases"]["atgen/train"]
    assert done["steps"] == steps
    # The adversary's state was decided once per step and checkpointed once: the totals the
    # resumed run ends with are the sums of what each step logged, the killed run's included.
    assert done["attempted"] == sum(r["adversary/attempted"] for r in rows)
    assert done["accepted"] == sum(r["adversary/accepted"] for r in rows)
    final_state = json.loads((out / "atgen/train/adversary_state.json").read_text())
    last = json.loads((checkpoints / f"checkpoint-{steps}/atest_state.json").read_text())
    assert final_state == last
    assert_loads_and_generates(out / "final/test_generator")


@pytest.mark.slow
def test_errors_on_two_processes_are_printed_once_and_stop_both(tmp_path):
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("mine")
    cases = [
        # every process finds it at plan time
        (["--mode", "utrl", "--preset", "cpu-smoke", "--out", str(tmp_path / "a"), "--set", "grpo.lr=1"], "grpo.lr"),
        # only the main process opens the folder; the other hears of the failure
        (["--mode", "atgen-static", "--preset", "cpu-smoke", "--out", str(used)], "folder is not empty"),
    ]  # fmt: skip
    for args, needle in cases:
        proc = run2(*args, timeout=300)
        assert proc.returncode != 0
        errors = [line for line in worker_lines(proc.stderr) if line.startswith("error:")]
        assert len(errors) == 1 and needle in errors[0], proc.stderr[-3000:]
    assert not (tmp_path / "a").exists()
    assert sorted(p.name for p in used.iterdir()) == ["notes.txt"]


@pytest.mark.slow
def test_what_several_processes_would_multiply_is_refused_in_one_line(tmp_path):
    """A vLLM engine per process, or a Ray runtime per process, on one machine: refused before any
    model loads, with the fix (issue 26 §6). One real launch checks that the error and its JSON
    object are printed once; the other cases need no process group (the checks run before the
    first collective), so they run as the main process of a launch of two, by its environment."""
    out = tmp_path / "launched"
    proc = run2("--mode", "utrl", "--set", "utrl.generation_backend=vllm", "--preset", "cpu-smoke",
                "--out", str(out), "--json", timeout=300)  # fmt: skip
    # torchrun exits 1 when a worker fails; the workers' own code is the bad-input one
    assert proc.returncode != 0 and "exitcode  : 2" in proc.stderr, proc.stderr[-3000:]
    errors = [line for line in worker_lines(proc.stderr) if line.startswith("error:")]
    assert len(errors) == 1 and "2 vLLM engines" in errors[0], proc.stderr[-3000:]
    assert json.loads(proc.stdout)["error"]  # one object, from the main process
    assert not out.exists()

    env = {**os.environ, "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"}
    cases = [
        (["--mode", "atgen-adaptive", "--set", "atgen.adversary.backend=vllm"], "2 vLLM engines"),
        (["--mode", "atgen-static", "--set", "sandbox.executor=ray"], "2 Ray runtimes"),
    ]
    for i, (args, needle) in enumerate(cases):
        out = tmp_path / f"run{i}"
        proc = subprocess.run(
            [sys.executable, "-m", "atest", "train", *args, "--preset", "cpu-smoke", "--out", str(out), "--json"],
            capture_output=True, text=True, timeout=300, env=env,
        )  # fmt: skip
        assert proc.returncode == 2, proc.stderr[-3000:]
        assert needle in json.loads(proc.stdout)["error"]["message"]
        assert not out.exists()


@pytest.mark.slow
def test_map_sharded_even_gives_every_process_as_many_items_and_all_results_in_order(tmp_path):
    """Validation's generation is shared out with `even=True`: under ZeRO-3 each generate call
    gathers weights, so every process must make as many calls (a real gloo group of two)."""
    script = Path(__file__).with_name("multiproc_shard.py")
    proc = subprocess.run(
        ["nice", "-n", "10", sys.executable, "-m", "torch.distributed.run", "--standalone",
         "--nproc_per_node", "2", str(script), str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    zero, one = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    expected = {"uneven": [0, 10, 20, 30, 40], "even": [0, 10, 20, 30, 40], "even_one": [70]}
    assert zero["results"] == one["results"] == expected
    assert zero["calls"] == [[0, 2, 4], [0, 2, 4], [7]]
    assert one["calls"] == [[1, 3], [1, 3, 3], [7]]  # padded to the longest share; extras dropped


def test_a_generation_phase_cut_short_resumes_to_the_rows_of_an_uninterrupted_one(tmp_path, tiny_model_dir):
    """Each call of tasks has its own seed, so where a kill stopped the phase changes no row."""
    from atest.core.generation import SamplingParams
    from atest.core.prompts import build_messages
    from atest.core.tasks import read_tasks
    from atest.core.training.phases.sampling import open_generator, sample_resumable, tasks_per_call

    tasks, _ = read_tasks(Path(__file__).resolve().parents[1] / "atest/configs/cpu-smoke/tasks.jsonl")
    assert tasks_per_call(len(tasks)) == 1 and tasks_per_call(1000) == 16
    params = SamplingParams(temperature=1.0, max_new_tokens=16, n=2, seed=7)

    def sample(path: Path, which: list) -> list[dict]:
        return sample_resumable(
            path,
            which,
            generator=generator,
            params=params,
            build_prompt=lambda t: build_messages("utrl-code", t),
            to_row=lambda t, texts: {"task_id": t.task_id, "responses": texts},
        )

    with open_generator("hf", tiny_model_dir) as generator:
        whole = sample(tmp_path / "whole.jsonl", tasks)
        sample(tmp_path / "cut.jsonl", tasks[:3])  # the killed run wrote three tasks
        resumed = sample(tmp_path / "cut.jsonl", tasks)
    assert resumed == whole
    assert len({json.dumps(r["responses"]) for r in whole}) == len(tasks)  # seeds differ per call


@pytest.mark.slow
def test_atgen_adversary_samples_each_due_slot_on_one_process_and_all_end_alike(tmp_path, tiny_model_dir):
    script = Path(__file__).with_name("multiproc_adversary.py")
    proc = subprocess.run(
        ["nice", "-n", "10", sys.executable, "-m", "torch.distributed.run", "--standalone",
         "--nproc_per_node", "2", str(script), str(tiny_model_dir), str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    zero, one = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    # every slot was seen, so all four are due; each process sampled for two of them
    assert len(zero["asked"]) == len(one["asked"]) == 2 and not set(zero["asked"]) & set(one["asked"])
    assert zero["metrics"] == one["metrics"] and zero["state"] == one["state"]
    assert zero["metrics"]["adversary/attempted"] == 4
    assert zero["state"]["totals"]["attempted"] == 4


def test_workers_die_with_a_launcher_killed_by_sigkill(tmp_path, tiny_model_dir):
    """torch's agent starts each worker in a session of its own: a `kill -9` of the launcher's
    group (a CI timeout, the OOM killer) used to leave both workers training into the run folder
    that the user then resumes into. Each worker now gets SIGKILL with its launcher."""
    cmd = torchrun(
        "--mode", "atgen-static", "--preset", "cpu-smoke", "--out", str(tmp_path / "run"),
        "--set", f"test_model.path={tiny_model_dir}", "--set", "atgen.max_steps=50",
    )  # fmt: skip
    launch = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    workers: dict[int, int] = {}
    try:
        deadline = time.monotonic() + 300
        while len(workers) < 2:
            assert launch.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
            workers = worker_pids(launch.pid)
        for pid in workers.values():  # in sessions of their own, out of the launcher's group
            assert os.getsid(pid) != os.getsid(launch.pid)
        time.sleep(3)  # past the workers' start-up, into the run
        os.killpg(launch.pid, signal.SIGKILL)
        launch.wait(timeout=30)
        deadline = time.monotonic() + 20
        alive = set(workers.values())
        while alive and time.monotonic() < deadline:
            alive = {pid for pid in alive if Path(f"/proc/{pid}").exists() and not zombie(pid)}
            time.sleep(0.1)
        assert not alive, f"workers {sorted(alive)} outlived their launcher"
    finally:
        for pid in workers.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(launch.pid, signal.SIGKILL)


def zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False
