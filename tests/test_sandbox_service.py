"""`atest sandbox serve` and `--executor sandboxfusion`, on real servers on 127.0.0.1.

The server is the real `atest sandbox serve` in a child process; its clients are the
`sandbox-fusion` package's own `run_code` (sync and async), raw HTTP for the requests a
client library would never send, and atest's `sandboxfusion` provider over both of its
protocols (SandboxFusion's `/run_code` with the driver, and atest's batch endpoint). The
faults are real too: a port nobody listens on, and an HTTP server that answers 500 or never.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import test_sandbox
from atest_cli import run_cli
from sandbox_corpus import CORPUS, outcomes, stdio

from atest.core.errors import ExternalError, InputError
from atest.core.sandbox import Job, Limits, Program, Status, get_executor
from atest.core.sandbox.executor import FAULT_ATTEMPTS, CachedExecutor
from atest.core.sandbox.fresh import START_ALLOWANCE
from atest.core.sandbox.fusion import FusionProvider
from atest.core.sandbox.service import LocalServer
from atest.core.sandbox.settings import ENV, SandboxSettings

sandbox_fusion = pytest.importorskip("sandbox_fusion", reason="the sandboxfusion extra is not installed")

TOKEN = "test-token-0123456789"
CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in ENV.values()}


@pytest.fixture(scope="module")
def server():
    with LocalServer("--workers", "2", env=CLEAN_ENV) as running:
        yield running


@pytest.fixture(scope="module")
def guarded_server():
    """A second server with a token, one request at a time and a 64 KB body cap."""
    env = {**CLEAN_ENV, "ATEST_SANDBOX_TOKEN": TOKEN}
    with LocalServer("--workers", "1", "--max-pending", "1", "--max-body-mb", "0.0625", env=env) as running:
        yield running


def fusion_executor(url: str, protocol: str = "auto", token: str | None = None, **settings) -> CachedExecutor:
    chosen = SandboxSettings(executor="sandboxfusion", url=url, token=token, **settings)
    return CachedExecutor(FusionProvider(chosen, 4, protocol))


def post(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as failure:
        return failure.code, json.loads(failure.read())


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as failure:
        return failure.code, json.loads(failure.read())


# -- SandboxFusion's own client ---------------------------------------------------------------


def test_sandbox_fusion_client_sync(server):
    from sandbox_fusion import RunCodeRequest, RunStatus, run_code

    ok = run_code(
        RunCodeRequest(code="print(int(input()) * 2)", stdin="21", language="python"), endpoint=server.url
    )
    assert ok.status == RunStatus.Success and ok.run_result.stdout == "42\n"
    assert ok.run_result.status == "Finished" and ok.run_result.return_code == 0
    crash = run_code(RunCodeRequest(code="print(1 / 0)", language="python"), endpoint=server.url)
    assert crash.status == RunStatus.Failed and crash.run_result.return_code == 1
    assert "ZeroDivisionError" in crash.run_result.stderr
    slow = run_code(
        RunCodeRequest(code="while True: pass", language="python", run_timeout=0.5), endpoint=server.url
    )
    assert slow.status == RunStatus.Failed and slow.run_result.status == "TimeLimitExceeded"


def test_sandbox_fusion_client_async(server):
    from sandbox_fusion import RunCodeRequest, RunStatus, run_code_async

    async def many():
        requests = [RunCodeRequest(code=f"print({i} ** 2)", language="python") for i in range(8)]
        return await asyncio.gather(*(run_code_async(r, endpoint=server.url) for r in requests))

    answers = asyncio.run(many())
    assert [a.status for a in answers] == [RunStatus.Success] * 8
    assert [a.run_result.stdout for a in answers] == [f"{i**2}\n" for i in range(8)]


def test_set_endpoint_and_the_verl_style_url(server, monkeypatch):
    """verl and `set_endpoint` users hold the server's URL; verl posts to URL/run_code itself."""
    from sandbox_fusion import RunCodeRequest, client, config, run_code, set_endpoint

    monkeypatch.setattr(config, "SANDBOX_ENDPOINT", config.SANDBOX_ENDPOINT)
    monkeypatch.setattr(config, "DATASET_ENDPOINT", config.DATASET_ENDPOINT)
    set_endpoint(server.url)
    assert server.url == client.config.SANDBOX_ENDPOINT
    assert run_code(RunCodeRequest(code="print('hi')", language="python")).run_result.stdout == "hi\n"
    verl_body = {  # what verl's call_sandbox_api sends
        "compile_timeout": 10, "run_timeout": 10, "code": "print(input()[::-1])", "stdin": "abc",
        "memory_limit_MB": 1024, "language": "python", "files": {}, "fetch_files": [],
    }  # fmt: skip
    status, answer = post(server.url + "/run_code", json.dumps(verl_body).encode())
    assert status == 200 and answer["run_result"]["stdout"] == "cba\n"


def test_a_language_it_does_not_run_gets_the_apis_error_shape(server):
    from sandbox_fusion import RunCodeRequest, RunCodeResponse, run_code

    status, answer = post(
        server.url + "/run_code", json.dumps({"code": "int main(){}", "language": "cpp"}).encode()
    )
    assert status == 400
    parsed = RunCodeResponse(**answer)  # the API's own shape
    assert parsed.status == "SandboxError" and "python only" in parsed.message and "\n" not in parsed.message
    with pytest.raises(Exception, match="400"):
        run_code(RunCodeRequest(code="x", language="cpp"), endpoint=server.url, max_attempts=1)


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b"{not json", 400, "not JSON"),
        (b'{"language": "python"}', 422, "code"),
        (b'{"code": "print(1)", "language": "python", "run_timeout": -1}', 422, "run_timeout"),
        (b'{"code": "print(1)", "language": "python", "run_timeout": 3600}', 422, "60 s"),
        (b'{"code": "print(1)", "language": "python", "memory_limit_MB": 999999}', 422, "memory_limit_MB"),
        (b'{"code": "print(1)", "language": "python", "files": {"a.txt": "eA=="}}', 422, "files"),
        (b"[1, 2]", 422, "body"),
    ],
)
def test_bad_requests_get_a_4xx_and_one_line(server, body, status, says):
    got, answer = post(server.url + "/run_code", body)
    assert got == status and says in answer["error"] and "\n" not in answer["error"]
    assert get(server.url + "/health") == (200, {"status": "ok"})


def test_bad_batch_requests(server):
    url = server.url + "/atest/v1/run"
    got, answer = post(url, json.dumps({"jobs": [{"source": "x", "kind": "functional"}]}).encode())
    assert got == 422 and "fn_name" in answer["error"]
    got, answer = post(url, json.dumps({"jobs": [{"source": "x", "kind": "shell"}]}).encode())
    assert got == 422 and "kind" in answer["error"]
    big = {"jobs": [{"source": "x", "kind": "stdio", "limits": {"cpu_seconds": 500}}]}
    got, answer = post(url, json.dumps(big).encode())
    assert got == 422 and "60 s" in answer["error"]


def test_batch_endpoint_runs_jobs_as_the_executor_does(server):
    jobs = [
        {"source": "def f(a, b): return [a, b]", "kind": "functional", "fn_name": "f", "input": [1, "x"]},
        {"source": "print(input())", "kind": "stdio", "input": "abc"},
    ]
    got, answer = post(server.url + "/atest/v1/run", json.dumps({"jobs": jobs}).encode())
    assert got == 200
    assert [(r["status"], r["output"]) for r in answer["results"]] == [("ok", [1, "x"]), ("ok", "abc\n")]


def test_token_size_limit_and_back_pressure(guarded_server):
    url = guarded_server.url
    body = json.dumps({"code": "print(1)", "language": "python"}).encode()
    assert post(url + "/run_code", body)[0] == 401
    assert post(url + "/run_code", body, {"Authorization": "Bearer wrong"})[0] == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert post(url + "/run_code", body, auth)[1]["run_result"]["stdout"] == "1\n"
    too_big = json.dumps({"code": "#" * 100_000, "language": "python"}).encode()
    got, answer = post(url + "/run_code", too_big, auth)
    assert got == 413 and "bytes" in answer["error"]
    # one request in progress (max-pending 1): the next is turned away at once, /ready says so
    slow = json.dumps(
        {"code": "import time\ntime.sleep(2)\nprint(2)", "language": "python", "run_timeout": 5}
    )
    first: dict = {}
    thread = threading.Thread(
        target=lambda: first.update(answer=post(url + "/run_code", slow.encode(), auth))
    )
    thread.start()
    deadline = time.monotonic() + 10
    while get(url + "/ready")[0] == 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert get(url + "/ready")[0] == 503
    start = time.monotonic()
    request = urllib.request.Request(url + "/run_code", data=body, headers=auth)
    with pytest.raises(urllib.error.HTTPError) as busy:
        urllib.request.urlopen(request, timeout=30)
    assert busy.value.code == 429 and busy.value.headers["Retry-After"] == "1"
    assert time.monotonic() - start < 1.5  # refused, not queued
    thread.join()
    assert first["answer"][1]["run_result"]["stdout"] == "2\n"
    assert get(url + "/ready")[0] == 200
    # the provider waits through back-pressure instead of failing
    with fusion_executor(url, token=TOKEN) as ex:
        assert ex.run([stdio("print(5)")])[0].output == "5\n"
    with pytest.raises(InputError, match="refused the token"):
        fusion_executor(url, token="wrong")


# -- the sandboxfusion executor ---------------------------------------------------------------


@pytest.fixture(scope="module")
def local_outcomes():
    with get_executor(workers=2) as local:
        return outcomes(local.run([job for _, job, _ in CORPUS]))


@pytest.mark.parametrize("protocol", ["auto", "run_code"])
def test_the_corpus_gets_the_local_verdicts(server, local_outcomes, protocol):
    with fusion_executor(server.url, protocol) as ex:
        assert ex.provider.native == (protocol == "auto")
        results = ex.run([job for _, job, _ in CORPUS])
    for (name, _, _), ours, theirs in zip(CORPUS, local_outcomes, outcomes(results), strict=True):
        assert theirs == ours, name


def test_driver_batches_share_a_request_and_keep_order(server):
    source = "import sys\nprint(int(sys.stdin.read()) * 3)"
    jobs = [Job(Program(source, "stdio"), f"{i}\n", Limits(cpu_seconds=0.5)) for i in range(10)]
    with fusion_executor(server.url, "run_code", max_batch=4) as ex:
        results = ex.run(jobs)
    assert [r.output for r in results] == [f"{i * 3}\n" for i in range(10)]


def test_get_executor_selects_sandboxfusion_from_settings(server):
    with get_executor(settings=SandboxSettings(executor="sandboxfusion", url=server.url + "/run_code")) as ex:
        assert ex.provider.name == "sandboxfusion" and ex.provider.base == server.url
        assert "network namespace" in ex.layers or ex.layers
        assert ex.run([stdio("print(3)")])[0].output == "3\n"


def server_leftovers(server: LocalServer) -> list[int]:
    """Processes under the server other than its own workers: what a program left behind."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    root = server.proc.pid
    workers = {pid for pid, parent in parents.items() if parent == root}

    def below(pid: int) -> bool:
        seen = set()
        while pid in parents and pid not in seen:
            seen.add(pid)
            pid = parents[pid]
            if pid == root:
                return True
        return False

    return sorted(pid for pid in parents if pid not in workers and below(pid))


@pytest.fixture(scope="module")
def driver_executor(server):
    with fusion_executor(server.url, "run_code") as ex:
        yield ex


@pytest.mark.slow
@pytest.mark.hostile
class TestHostileThroughSandboxFusion(test_sandbox.TestHostile):
    """The hostile suite, every program sent through SandboxFusion's /run_code (the driver) to
    `atest sandbox serve`: the verdicts the local fork server gives."""

    @pytest.fixture
    def executor(self, driver_executor):
        return driver_executor

    @pytest.fixture
    def clean_after(self, server, driver_executor):
        yield
        deadline = time.monotonic() + 5
        while server_leftovers(server) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server_leftovers(server) == []
        results = driver_executor.run([stdio(f"print({i} * 5)") for i in range(20)])
        assert [r.output for r in results] == [f"{i * 5}\n" for i in range(20)]

    # A fresh interpreter per input gets `START_ALLOWANCE` (1 s) on top of the wall limit to
    # start, as under the subprocess provider: the verdicts are the suite's, the wall bounds 1 s wider.
    def test_infinite_loop(self, executor):
        result = test_sandbox.run_batched(executor, stdio("while True: pass", limits=Limits(cpu_seconds=0.3)))
        assert result.status is Status.TIME_LIMIT and result.wall_time < 2 + START_ALLOWANCE

    def test_double_forked_daemon_holding_stdout(self, executor):
        source = (
            "import os, time\n"
            "if os.fork() == 0:\n"
            "    os.setsid()\n"
            "    if os.fork() == 0:\n"
            "        while True:\n"
            "            print('daemon', flush=True); time.sleep(0.01)\n"
            "    os._exit(0)\n"
            "print('parent done')\n"
        )
        result = test_sandbox.run_batched(executor, stdio(source))
        assert result.status is Status.OK and "parent done" in result.output
        assert result.wall_time < 1 + START_ALLOWANCE

    def test_a_dead_worker_is_restarted(self, server, executor):
        for pid in _children(server.proc.pid):  # the server's fork-server workers
            os.kill(pid, 9)
        results = executor.run([stdio(f"print({i} + 7)") for i in range(6)])
        assert [r.output for r in results] == [f"{i + 7}\n" for i in range(6)]


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


# -- faults are faults ------------------------------------------------------------------------


class _Broken(http.server.BaseHTTPRequestHandler):
    """A real HTTP server that fails: 404 on the atest info, then 500 or no answer at all."""

    mode = "500"

    def do_GET(self):
        self.send_response(404)
        self.end_headers()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.mode == "hang":
            time.sleep(5)
            return
        if self.mode == "sandbox-error":
            body = json.dumps({"status": "SandboxError", "message": "pod lost", "run_result": None}).encode()
            self.send_response(200)
        else:
            body = b"upstream broke"
            self.send_response(500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def broken_server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Broken)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("mode", ["500", "sandbox-error", "hang"])
def test_server_faults_are_retried_then_fail_never_verdicts(broken_server, monkeypatch, mode):
    from atest.core.sandbox import fusion

    _, url = broken_server
    monkeypatch.setattr(_Broken, "mode", mode)
    monkeypatch.setattr(fusion, "REQUEST_MARGIN", 0.5 - (2 * 0.05 + 1 + fusion.fresh.START_ALLOWANCE + 1 + 5))
    monkeypatch.setattr(fusion, "BACKOFF", 0.05)
    with fusion_executor(url) as ex:
        assert not ex.provider.native
        with pytest.raises(ExternalError) as failure:
            ex.run([stdio("print(1)", limits=Limits(cpu_seconds=0.05))])
    assert failure.value.exit_code == 3 and f"{FAULT_ATTEMPTS} times" in str(failure.value)
    assert ex.executed == 0 and ex.faults == FAULT_ATTEMPTS


def test_nothing_listening_fails_fast_with_exit_3():
    with pytest.raises(ExternalError, match="nothing answers at --sandbox-url") as failure:
        fusion_executor("http://127.0.0.1:9")
    assert failure.value.exit_code == 3


# -- the CLI ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_sandbox_url_gives_the_local_answers(server):
    command = ["prepare", "--source", "sample", "--limit", "2", "--verify", "--json"]
    local = run_cli(*command, env=CLEAN_ENV)
    remote = run_cli("--sandbox-url", server.url, *command, env=CLEAN_ENV)
    by_env = run_cli(
        *command, env={**CLEAN_ENV, "ATEST_SANDBOX_URL": server.url, "ATEST_EXECUTOR": "sandboxfusion"}
    )
    assert local.returncode == remote.returncode == by_env.returncode == 0, remote.stderr + by_env.stderr
    assert json.loads(local.stdout) == json.loads(remote.stdout) == json.loads(by_env.stdout)


def test_cli_refusals_are_one_line_exit_2():
    no_url = run_cli("--executor", "sandboxfusion", "bon", "--help", env=CLEAN_ENV)
    assert no_url.returncode == 2 and "needs the server's URL" in no_url.stderr
    assert len(no_url.stderr.strip().splitlines()) == 1
    both = run_cli("--executor", "ray", "--sandbox-url", "http://127.0.0.1:9", "bon", "--help", env=CLEAN_ENV)
    assert both.returncode == 2 and "--executor is 'ray'" in both.stderr
    not_http = run_cli("--sandbox-url", "127.0.0.1:9", "bon", "--help", env=CLEAN_ENV)
    assert not_http.returncode == 2 and "not an HTTP URL" in not_http.stderr
    down = run_cli(
        "--sandbox-url",
        "http://127.0.0.1:9",
        "prepare",
        "--source",
        "sample",
        "--limit",
        "1",
        "--verify",
        env=CLEAN_ENV,
    )
    assert down.returncode == 3 and "nothing answers at --sandbox-url http://127.0.0.1:9" in down.stderr


def test_serve_refuses_a_taken_port(server):
    port = server.url.rsplit(":", 1)[1]
    taken = subprocess.run(
        [sys.executable, "-m", "atest", "sandbox", "serve", "--port", port],
        capture_output=True, text=True, timeout=120, env=CLEAN_ENV,
    )  # fmt: skip
    assert taken.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in taken.stderr
