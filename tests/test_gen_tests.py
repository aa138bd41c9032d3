"""`atest gen-tests` and `atest gen-solutions` end to end, as a script runs them."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import atest_cli
import pytest

from atest.core.generation import Completion
from atest.core.tasks import Task, read_tasks, write_tasks

TWO_TESTS = (
    "<reasoning>smallest values</reasoning>\n```\nInput:\n1 2\n\nOutput:\n3\n```\n"
    "<reasoning>negatives</reasoning>\n```\nInput:\n-5 5\n\nOutput:\n0\n```\n"
)
SOLUTION = "<reasoning>add them</reasoning>\n```python\na, b = map(int, input().split())\nprint(a + b)\n```\n"


class ScriptedModel:
    """Stands in for an LLM behind the real HTTP server, answering every prompt with `text`, so
    that the parsed output is known in advance."""

    def __init__(self, text: str):
        self.text = text

    def generate(self, prompts, params):
        return [[Completion(self.text, 20, "stop", None) for _ in range(params.n)] for _ in prompts]


def make_tasks(path: Path, count: int = 3, buggy: bool = True) -> list[Task]:
    tasks = [
        Task(
            f"sum-{i}",
            f"Read two integers a and b and print a + b (variant {i}).",
            "stdio",
            ["a, b = map(int, input().split())\nprint(a + b)\n"],
            [{"input": "1 2\n", "output": "3\n"}],
            buggy_code=["a, b = map(int, input().split())\nprint(a - b)\n", "print(3)\n"]
            if buggy and i
            else [],
        )
        for i in range(count)
    ]
    write_tasks(path, tasks)
    return tasks


def run_cli(
    *args: str, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """The command with a placeholder API key, as a user of a local OpenAI-compatible server has."""
    return atest_cli.run_cli(
        *args, timeout=timeout, env={**os.environ, "OPENAI_API_KEY": "unused", **(env or {})}
    )


def rows_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def scripted_server():
    from chat_server import ChatServer

    servers = []

    def start(text: str, port: int = 0):
        srv = ChatServer(ScriptedModel(text), model_name="scripted", port=port).start()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.stop()


def test_gen_tests_with_the_hf_backend_writes_one_row_per_task(tmp_path, tiny_model_dir):
    tasks_file, out = tmp_path / "tasks.jsonl", tmp_path / "tests.jsonl"
    make_tasks(tasks_file)
    args = ["gen-tests", "--tasks", str(tasks_file), "--model", str(tiny_model_dir), "--out", str(out)]
    proc = run_cli(
        *args, "--max-new-tokens", "8", "--n", "2", "--temperature", "1", "--threads", "1", "--json"
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    rows = rows_of(out)
    assert [r["task_id"] for r in rows] == ["sum-0", "sum-1", "sum-2"]
    for row in rows:
        assert row["template_id"] == "utrl-test@1" and row["model"] == str(tiny_model_dir)
        assert row["sampling"] == {"temperature": 1.0, "top_p": 1.0, "max_new_tokens": 8, "n": 2, "seed": 0}
        assert len(row["responses"]) == 2 and len(row["diagnostics"]) == 2
        assert all(d["n_tokens"] <= 8 for d in row["diagnostics"])
    assert summary["n_tasks"] == 3 and summary["n_responses"] == 6
    assert summary["n_tests"] == sum(len(r["tests"]) for r in rows)
    assert summary["n_parse_failures"] == sum(d["n_tests"] == 0 for r in rows for d in r["diagnostics"])
    assert summary["generated_tokens"] > 0
    assert "(hf, 1 thread(s): --threads)" in proc.stderr  # the summary says how many threads, and why

    again = run_cli(*args, "--max-new-tokens", "8", "--n", "2", "--temperature", "1")
    assert again.returncode == 2 and "--resume" in again.stderr and again.stdout == ""
    assert rows_of(out) == rows
    resumed = run_cli(*args, "--max-new-tokens", "8", "--n", "2", "--temperature", "1", "--resume", "--json")
    assert resumed.returncode == 0 and json.loads(resumed.stdout)["n_skipped"] == 3
    assert rows_of(out) == rows
    other = run_cli(*args, "--max-new-tokens", "9", "--resume")
    assert other.returncode == 2 and "max_new_tokens" in other.stderr
    forced = run_cli(*args, "--max-new-tokens", "4", "--force", "--json")
    assert forced.returncode == 0 and json.loads(forced.stdout)["n_written"] == 3
    kept = rows_of(out)
    served = run_cli(
        *args, "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1", "--threads", "1", "--force"
    )
    assert served.returncode == 2 and "--threads only applies to --backend hf" in served.stderr
    assert rows_of(out) == kept, "a refused run must not touch --out, even with --force"


def test_gen_tests_parses_served_responses_into_tests(tmp_path, scripted_server):
    server = scripted_server(TWO_TESTS)
    tasks_file, out = tmp_path / "tasks.jsonl", tmp_path / "tests.jsonl"
    make_tasks(tasks_file)
    proc = run_cli(
        "gen-tests", "--tasks", str(tasks_file), "--backend", "openai", "--model", "scripted",
        "--base-url", server.base_url, "--out", str(out), "--n", "2", "--temperature", "1", "--json",
        env={"PYTHONPROFILEIMPORTTIME": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "openai" in imported and "torch" not in imported  # a served run never pays torch's 4.5 s
    summary = json.loads(proc.stdout)
    expected = [{"input": "1 2\n", "output": "3\n"}, {"input": "-5 5\n", "output": "0\n"}]
    for row in rows_of(out):
        assert row["tests"] == expected  # two identical responses: duplicates merged
        assert [d["n_tests"] for d in row["diagnostics"]] == [2, 2]
        assert all(d["well_formed"] for d in row["diagnostics"])
    assert (summary["n_tests"], summary["n_parse_failures"], summary["tests_per_task_mean"]) == (6, 0, 2.0)


def test_without_backend_a_server_url_means_openai_and_otherwise_hf_on_a_cpu(tmp_path, scripted_server):
    """`--backend auto` (the default): the summary says which backend ran."""
    from atest.core.gentests import default_backend

    assert default_backend("http://127.0.0.1:9/v1") == "openai"
    assert default_backend() == "hf"  # a CPU: vLLM's engine start does not pay at a command's size
    server = scripted_server(TWO_TESTS)
    tasks_file, out = tmp_path / "tasks.jsonl", tmp_path / "tests.jsonl"
    make_tasks(tasks_file)
    proc = run_cli(
        "gen-tests", "--tasks", str(tasks_file), "--model", "scripted", "--base-url", server.base_url,
        "--out", str(out), "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["backend"] == "openai" and "(openai)" in proc.stderr


def test_gen_tests_atgen_prompts_once_per_buggy_code(tmp_path, scripted_server):
    server = scripted_server(TWO_TESTS)
    tasks_file, out = tmp_path / "tasks.jsonl", tmp_path / "tests.jsonl"
    tasks = make_tasks(tasks_file)
    proc = run_cli(
        "gen-tests", "--tasks", str(tasks_file), "--backend", "openai", "--model", "scripted",
        "--base-url", server.base_url, "--prompt", "atgen", "--out", str(out), "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = rows_of(out)
    assert [(r["task_id"], r["buggy_index"]) for r in rows] == [
        ("sum-1", 0),
        ("sum-1", 1),
        ("sum-2", 0),
        ("sum-2", 1),
    ]
    assert rows[1]["buggy_code"] == tasks[1].buggy_code[1]
    assert all(r["template_id"] == "atgen@1" and len(r["tests"]) == 1 for r in rows)  # atgen keeps one test
    summary = json.loads(proc.stdout)
    assert summary["tasks_without_buggy_code"] == 1 and summary["n_prompts"] == 4
    assert "no buggy_code" in proc.stderr


def test_server_stopped_mid_run_then_resume_completes_without_loss_or_duplicates(tmp_path, scripted_server):
    server = scripted_server(TWO_TESTS)
    server.stop_after = 2  # answers two requests, then goes away
    tasks_file, out = tmp_path / "tasks.jsonl", tmp_path / "tests.jsonl"
    make_tasks(tasks_file, count=5)
    args = [
        "gen-tests", "--tasks", str(tasks_file), "--backend", "openai", "--model", "scripted",
        "--base-url", server.base_url, "--out", str(out), "--batch-size", "1", "--max-retries", "1", "--json",
    ]  # fmt: skip
    failed = run_cli(*args)
    assert failed.returncode == 3, failed.stderr
    assert "--resume" in failed.stderr and json.loads(failed.stdout)["error"]["exit_code"] == 3
    first_rows = rows_of(out)
    assert [r["task_id"] for r in first_rows] == ["sum-0", "sum-1"]

    scripted_server(TWO_TESTS, port=server.port)  # the server comes back on the same address
    resumed = run_cli(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    rows = rows_of(out)
    assert [r["task_id"] for r in rows] == [f"sum-{i}" for i in range(5)]
    assert rows[:2] == first_rows
    summary = json.loads(resumed.stdout)
    assert (summary["n_skipped"], summary["n_written"], summary["n_tasks"]) == (2, 3, 5)


def test_a_fault_before_the_first_row_leaves_no_output_and_the_same_command_reruns(tmp_path, scripted_server):
    server = scripted_server(TWO_TESTS)
    server.stop()  # gone before the first answer
    tasks_file, out = tmp_path / "tasks.jsonl", tmp_path / "tests.jsonl"
    make_tasks(tasks_file, count=2)
    args = [
        "gen-tests", "--tasks", str(tasks_file), "--backend", "openai", "--model", "scripted",
        "--base-url", server.base_url, "--out", str(out), "--max-retries", "1", "--json",
    ]  # fmt: skip
    failed = run_cli(*args)
    assert failed.returncode == 3, failed.stderr
    assert not out.exists()  # an empty --out would make the plain rerun refuse to overwrite it
    assert "nothing was written" in failed.stderr and "--resume" not in failed.stderr

    out.write_text("")  # a file the user made is theirs: a failed run leaves it as it was
    kept = run_cli(*args, "--resume")
    assert kept.returncode == 3 and out.exists()
    out.unlink()
    pool = tmp_path / "with-candidates.jsonl"
    solutions = [
        "gen-solutions", "--tasks", str(tasks_file), "--backend", "openai", "--model", "scripted",
        "--base-url", server.base_url, "--n", "2", "--out", str(pool), "--max-retries", "1", "--json",
    ]  # fmt: skip
    failed = run_cli(*solutions)
    assert failed.returncode == 3, failed.stderr
    assert list(tmp_path.glob("with-candidates*")) == []  # no partial file asking for --resume

    scripted_server(TWO_TESTS, port=server.port)
    again = run_cli(*args)
    assert again.returncode == 0, again.stderr
    assert [r["task_id"] for r in rows_of(out)] == ["sum-0", "sum-1"]
    assert run_cli(*solutions).returncode == 0


def test_gen_solutions_fills_candidates(tmp_path, scripted_server):
    server = scripted_server(SOLUTION)
    tasks_file, out = tmp_path / "tasks.jsonl", tmp_path / "with-candidates.jsonl"
    make_tasks(tasks_file)
    args = [
        "gen-solutions", "--tasks", str(tasks_file), "--backend", "openai", "--model", "scripted",
        "--base-url", server.base_url, "--n", "3", "--name", "m1", "--out", str(out), "--json",
    ]  # fmt: skip
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    tasks, _ = read_tasks(out)
    code = "a, b = map(int, input().split())\nprint(a + b)\n"
    assert all(t.candidates == {"m1": [code] * 3} for t in tasks)
    assert json.loads(proc.stdout)["n_candidates"] == 9
    assert not (tmp_path / "with-candidates.jsonl.partial.jsonl").exists()
    again = run_cli(*args)
    assert again.returncode == 2 and "--force" in again.stderr


@pytest.mark.slow
def test_gen_tests_with_the_embedded_model_on_cpu(tmp_path):
    tasks_file, out = tmp_path / "tasks.jsonl", tmp_path / "tests.jsonl"
    make_tasks(tasks_file, count=2)
    proc = run_cli(
        "gen-tests", "--tasks", str(tasks_file), "--model", "smollm2-135m", "--out", str(out),
        "--max-new-tokens", "64", "--json", timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    rows = rows_of(out)
    assert [r["task_id"] for r in rows] == ["sum-0", "sum-1"]
    assert all(r["responses"][0].strip() for r in rows), "the model answered nothing"
    assert summary["n_responses"] == 2 and summary["tokens_per_s"] > 0
