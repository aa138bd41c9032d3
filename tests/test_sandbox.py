"""The sandbox on real programs: conventions, verdicts, caching, and the hostile suite.

Every hostile program must get the right verdict, leave no process and no file behind,
and leave the executor working at normal speed.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from pathlib import Path

import pytest

from atest.core.sandbox import Job, Limits, Program, Status, get_executor
from atest.core.sandbox.forkserver import UID_BASE

FAST = Limits(cpu_seconds=0.5)


def stdio(source: str, stdin: str = "", limits: Limits = FAST) -> Job:
    return Job(Program(source, "stdio"), stdin, limits)


def functional(source: str, fn_name: str, args, limits: Limits = FAST) -> Job:
    return Job(Program(source, "functional", fn_name), args, limits)


def sandbox_processes(executor) -> list[int]:
    """Processes a sandboxed program left behind, on the whole host: any descendant of a worker
    (the worker is a child subreaper, so an orphan is re-parented to it, whoever runs the tests)
    and, as root, anything still running under one of the workers' sandbox uids (even a process
    that escaped the worker's tree)."""
    workers = {worker.pid for worker in executor.provider.pool.workers}
    uids = {UID_BASE + pid for pid in workers} if os.geteuid() == 0 else set()
    parents: dict[int, int] = {}
    owners: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            status = (entry / "status").read_text()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])
        owners[pid] = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("Uid:"))

    def under_a_worker(pid: int) -> bool:
        seen = set()
        while pid in parents and pid not in seen:
            seen.add(pid)
            pid = parents[pid]
            if pid in workers:
                return True
        return False

    return sorted(pid for pid in parents if owners[pid] in uids or under_a_worker(pid))


@pytest.fixture(scope="module")
def executor():
    with get_executor(workers=2) as ex:
        yield ex


def run1(executor, job: Job):
    return executor.run([job])[0]


def run_batched(executor, job: Job, copies: int = 3):
    """The job's program on `copies` inputs that share one child; every result must agree."""
    jobs = [Job(job.program, job.input + "\n" * i, job.limits) for i in range(copies)]
    results = executor.run(jobs)
    assert len({r.status for r in results}) == 1, [r.status for r in results]
    return results[0]


def test_isolation_layers_are_in_place(executor):
    assert {"network namespace", "mount namespace", "read-only minimal root"} <= set(executor.layers)


def test_an_interpreter_under_tmp_is_in_the_sandbox_too(tmp_path):
    """The sandbox's /tmp is an empty tmpfs; the Python tree a program sees is bound read-only.
    A virtualenv under /tmp (a repository cloned there) was dropped, hidden by that tmpfs before
    it was bound: a program starting `sys.executable` got "No such file", and behind `atest
    sandbox serve` every program "ended its driver" (found on a fresh clone in /tmp)."""
    import shutil
    import subprocess
    import sys
    import tempfile

    venv = Path(tempfile.mkdtemp(prefix="atest-venv-", dir="/tmp"))
    try:
        venv.chmod(0o755)  # a program runs as a uid of its own: the tree must be readable
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
        program = (
            "import os, subprocess, sys\n"
            "started = subprocess.run([sys.executable, '-c', 'print(7)'], capture_output=True, text=True)\n"
            "print(os.path.isdir(sys.prefix), started.stdout.strip())\n"
        )
        driver = (
            "import sys\n"
            "from atest.core.sandbox import Job, Limits, Program, get_executor\n"
            "with get_executor(workers=1) as ex:\n"
            "    [r] = ex.run([Job(Program(sys.argv[1], 'stdio'), '', Limits(cpu_seconds=5, wall_seconds=20))])\n"
            "print(r.status.value, repr(r.output), r.stderr_tail[-300:])\n"
        )
        root = Path(__file__).resolve().parents[1]
        done = subprocess.run(
            [str(venv / "bin" / "python"), "-c", driver, program],
            env={**os.environ, "PYTHONPATH": str(root)},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        shutil.rmtree(venv, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok 'True 7\\n'", done.stdout


# ---------------------------------------------------------------- program conventions


def test_stdio_idioms_read_the_real_stdin(executor):
    source = (
        "import sys\n"
        "first = sys.stdin.readline()[:-1]\n"
        "second = input()\n"
        "rest = sys.stdin.read()\n"
        "print(repr(first), repr(second), repr(rest))\n"
    )
    result = run1(executor, stdio(source, "  a b  \nx\n\nlast"))
    assert result.status is Status.OK
    assert result.output == "'  a b  ' 'x' '\\nlast\\n'\n"  # input unmodified, newline added only if missing


def test_stdin_buffer_and_unchanged_trailing_newline(executor):
    result = run1(executor, stdio("import sys\nprint(sys.stdin.buffer.read())", "1 2\n"))
    assert result.output == "b'1 2\\n'\n"


def test_functional_calls_solution_method_or_function_with_json_args(executor):
    method = "class Solution:\n    def add(self, a: List[int], k: int) -> List[int]:\n        return [x + k for x in a]\n"
    function = "def pair(a, b):\n    print('noise on stdout')\n    return (a, b)\n"
    results = executor.run(
        [
            functional(method, "add", [[1, 2], 3]),
            functional(method, "add", {"a": [5], "k": 1}),
            functional(function, "pair", ["x", None]),
            functional(function, "missing", []),
        ]
    )
    assert [r.output for r in results[:3]] == [[4, 5], [6], ["x", None]]
    assert results[3].status is Status.RUNTIME_ERROR and "missing" in results[3].stderr_tail


def test_prelude_never_shadows_builtins(executor):
    source = "print(pow(3, 200, 13), gcd(12, 18), Counter('aab')['a'], inf > 10**100)"
    assert run1(executor, stdio(source)).output == f"{pow(3, 200, 13)} 6 2 True\n"


def test_stderr_alone_is_not_a_failure_but_exit_code_is(executor):
    warn, fail = executor.run(
        [
            stdio("import sys\nprint('warning', file=sys.stderr)\nprint(7)"),
            stdio("print(7)\nraise SystemExit(3)"),
        ]
    )
    assert warn.status is Status.OK and warn.output == "7\n" and "warning" in warn.stderr_tail
    assert fail.status is Status.RUNTIME_ERROR and fail.exit_code == 3


def test_syntax_errors_and_exceptions_are_runtime_errors(executor):
    syntax, crash = executor.run([stdio("def f(:\n"), stdio("print(1/0)")])
    assert syntax.status is crash.status is Status.RUNTIME_ERROR
    assert "ZeroDivisionError" in crash.stderr_tail


def test_functional_program_that_exits_before_returning(executor):
    result = run1(executor, functional("import sys\nsys.exit(0)\ndef f(): return 1", "f", []))
    assert result.status is Status.RUNTIME_ERROR


def test_duplicates_run_once_and_results_are_cached(executor, tmp_path):
    job = stdio(f"print('{uuid.uuid4()}')")
    before = executor.executed
    first = executor.run([job, job, job])
    assert executor.executed - before == 1 and len({r.output for r in first}) == 1
    executor.run([job])
    assert executor.executed - before == 1
    with get_executor(workers=1, cache_dir=tmp_path) as a:
        a.run([job])
    with get_executor(workers=1, cache_dir=tmp_path) as b:
        again = b.run([job])[0]
        assert b.executed == 0 and again.output == first[0].output


def test_results_come_back_in_job_order(executor):
    jobs = [stdio(f"print({i})") for i in range(40)]
    assert [r.output for r in executor.run(jobs)] == [f"{i}\n" for i in range(40)]


# ---------------------------------------------------------------- one child, many inputs


def numbered(source: str, n: int, limits: Limits = FAST) -> list[Job]:
    return [stdio(source, f"{i}\n", limits) for i in range(n)]


def test_clean_programs_share_a_child_and_see_fresh_state(executor):
    source = (
        "import os, sys\n"
        "sys.counter = getattr(sys, 'counter', 0) + 1\n"
        "class Memo:\n    seen = []\n"
        "Memo.seen.append(input())\n"
        "print(os.getpid(), sys.counter, len(Memo.seen))\n"
    )
    clean = "import os\nx = input()\nprint(os.getpid(), x)\n"
    leaky = executor.run(numbered(source, 24))
    assert [r.output.split()[1:] for r in leaky] == [["1", "1"]] * 24  # no state crosses inputs
    shared = executor.run(numbered(clean, 80))
    assert [r.output.split()[1] for r in shared] == [str(i) for i in range(80)]
    assert len({r.output.split()[0] for r in shared}) <= 16  # batches of inputs, not a fork each


def test_interpreter_shutdown_steps_run_for_every_input(executor):
    threaded = (
        "import threading, sys\nsys.setrecursionlimit(10**5)\nthreading.stack_size(1 << 26)\n"
        "def main():\n    print(int(input()) * 2)\nthreading.Thread(target=main).start()\n"
    )
    at_exit = "import atexit\natexit.register(lambda: print('bye'))\nprint(input())\n"
    unclosed = "f = open(1, 'w', closefd=False)\nf.write('got ' + input())\n"
    assert [r.output for r in executor.run(numbered(threaded, 12))] == [f"{2 * i}\n" for i in range(12)]
    assert [r.output for r in executor.run(numbered(at_exit, 12))] == [f"{i}\nbye\n" for i in range(12)]
    assert [r.output for r in executor.run(numbered(unclosed, 12))] == [f"got {i}" for i in range(12)]


def test_leftovers_send_the_next_input_to_a_fresh_child(executor):
    """Each program prints what a fresh process would show, then leaves something behind."""
    leaks = {
        "open files": ("os.dup(0)", "for _ in range(10): os.open('/dev/null', os.O_RDONLY)"),
        "daemon thread": (
            "threading.active_count()",
            "threading.Thread(target=time.sleep, args=(60,), daemon=True).start()",
        ),
        "patched builtin": ("hasattr(builtins, 'mark')", "builtins.mark = 1"),
        "timer": (
            "signal.getitimer(signal.ITIMER_REAL)[0]",
            "signal.signal(signal.SIGALRM, print)\nsignal.setitimer(signal.ITIMER_REAL, 5)",
        ),
        "lowered limit": (
            "resource.getrlimit(resource.RLIMIT_NOFILE)[0]",
            "resource.setrlimit(resource.RLIMIT_NOFILE, (8, 8))",
        ),
        "big heap": (
            "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 150_000",
            "x = b'1' * 300 * 10**6",
        ),
    }
    header = "import builtins, os, resource, signal, threading, time\n"
    # What is checked is each output, not speed: 70 heaps of 300 MB took FAST's 2 s wall limit
    # once on a loaded 2-core machine (a TIME_LIMIT verdict, output None), so the limits are roomy.
    roomy = Limits(cpu_seconds=2.0, wall_seconds=20.0)
    for name, (observe, leak) in leaks.items():
        results = executor.run(numbered(f"{header}print({observe}, input())\n{leak}\n", 70, roomy))
        assert results[0].output is not None, (name, results[0])
        first = results[0].output.split()[0]
        wrong = [(i, r.status, r.output) for i, r in enumerate(results) if r.output != f"{first} {i}\n"]
        assert wrong == [], name
    assert sandbox_processes(executor) == []


def test_an_input_that_kills_its_child_fails_alone(executor):
    source = (
        "import os, signal\nx = int(input())\n"
        "if x == 2:\n    os._exit(3)\n"
        "if x == 4:\n    os.kill(os.getpid(), signal.SIGSEGV)\n"
        "if x == 6:\n    while True: pass\n"
        "print(x)\n"
    )
    results = executor.run(numbered(source, 9, Limits(cpu_seconds=0.3)))
    assert [r.status for r in results] == [Status.OK] * 2 + [
        Status.RUNTIME_ERROR,
        Status.OK,
        Status.RUNTIME_ERROR,
        Status.OK,
        Status.TIME_LIMIT,
        Status.OK,
        Status.OK,
    ]
    assert results[2].exit_code == 3 and results[4].exit_code == -11
    assert [results[i].output for i in (0, 1, 3, 5, 7, 8)] == [f"{i}\n" for i in (0, 1, 3, 5, 7, 8)]


def test_forging_the_report_channel_only_hurts_the_forger(executor):
    forger = (
        "import os\nfor fd in range(3, 64):\n    try: os.write(fd, b'\\xff' * 64)\n    except OSError: pass\n"
    )
    results = executor.run(numbered(forger + "print(input())\n", 10))
    assert {r.status for r in results} == {Status.RUNTIME_ERROR}
    # a well-framed record of the wrong shape in place of the real one, which is never sent
    shapes = [
        {"status": "ok"},
        {"status": "ok", "output": 1},
        {"status": "ok", "output": "", "cpu_time": "y"},
    ]
    framed = (
        "import os, struct\ndata = {!r}.encode()\n"
        "for fd in range(3, 64):\n"
        "    try: os.write(fd, struct.pack('<Qd', len(data), 0.0) + data)\n"
        "    except OSError: pass\n"
        "os._exit(0)\n"
    )
    forged = executor.run([stdio(framed.format(json.dumps(shape)), "1\n") for shape in shapes])
    assert [(r.status, r.stderr_tail) for r in forged] == [
        (Status.RUNTIME_ERROR, "sandbox: malformed result record")
    ] * len(shapes)
    assert [r.output for r in executor.run(numbered("print(input())", 10))] == [f"{i}\n" for i in range(10)]


def test_batched_and_per_execution_verdicts_agree():
    programs = ["print(int(input()) // (int(input()) % 3))", "x = int(input())\nprint(x * x)"]
    jobs = [stdio(p, f"{i}\n{i}\n") for p in programs for i in range(30)]
    with get_executor(workers=2) as batched, get_executor(workers=2, max_batch=1) as single:
        a, b = batched.run(jobs), single.run(jobs)
    assert [(r.status, r.output) for r in a] == [(r.status, r.output) for r in b]
    assert {r.status for r in a} == {Status.OK, Status.RUNTIME_ERROR}


# ---------------------------------------------------------------- hostile programs


@pytest.fixture
def clean_after(executor):
    """Checks nothing survives the test and the executor still runs a batch at normal speed."""
    yield
    assert sandbox_processes(executor) == []
    results = executor.run([stdio(f"print({i} * 2)") for i in range(20)])
    assert [r.output for r in results] == [f"{i * 2}\n" for i in range(20)]
    assert max(r.wall_time for r in results) < 0.5


@pytest.mark.hostile
@pytest.mark.usefixtures("clean_after")
class TestHostile:
    def test_infinite_loop(self, executor):
        result = run_batched(executor, stdio("while True: pass", limits=Limits(cpu_seconds=0.3)))
        assert result.status is Status.TIME_LIMIT and result.wall_time < 2

    def test_fork_bomb(self, executor):
        result = run_batched(
            executor, stdio("import os\nwhile True: os.fork()", limits=Limits(cpu_seconds=0.3))
        )
        assert result.status in (Status.TIME_LIMIT, Status.RUNTIME_ERROR)

    def test_allocating_50_gb(self, executor):
        result = run_batched(executor, stdio("x = bytearray(50 * 10**9)"))
        assert result.status is Status.MEMORY_LIMIT

    def test_printing_1_gb(self, executor):
        source = "import sys\nfor _ in range(100):\n    sys.stdout.write('x' * 10**7)\n"
        result = run_batched(executor, stdio(source, limits=Limits(cpu_seconds=2)))
        assert result.status is Status.OUTPUT_LIMIT

    def test_deep_recursion(self, executor):
        result = run_batched(executor, stdio("def f(n): return f(n + 1)\nf(0)"))
        assert result.status is Status.RUNTIME_ERROR and "RecursionError" in result.stderr_tail

    def test_reading_secrets_and_host_files(self, executor):
        here = Path(__file__).resolve()
        for path in ("/etc/shadow", str(here), "/root/.bashrc", "/proc/1/environ"):
            result = run_batched(executor, stdio(f"print(open({path!r}).read())"))
            assert result.status is Status.RUNTIME_ERROR, path

    def test_writing_outside_the_work_dir(self, executor, tmp_path):
        target = tmp_path / "escaped"
        for path in (str(target), f"/tmp/escaped-{uuid.uuid4()}", "/usr/escaped"):
            result = run_batched(executor, stdio(f"open({path!r}, 'w').write('x')"))
            assert result.status is Status.RUNTIME_ERROR, path
            assert not Path(path).exists()
        inside = run_batched(
            executor, stdio("open('scratch', 'w').write('ok')\nprint(open('scratch').read())")
        )
        assert inside.output == "ok\n"

    def test_no_network(self, executor):
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        try:
            source = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)\nprint('in')"
            result = run_batched(executor, stdio(source))
        finally:
            server.close()
        assert result.status is Status.RUNTIME_ERROR and result.output is None

    def test_parent_environment_is_invisible(self, monkeypatch):
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-must-not-leak")
        with get_executor(workers=1) as fresh:
            source = "import os\nprint(os.environ.get('OPENAI_API_KEY'), sorted(os.environ))"
            result = run1(fresh, stdio(source))
        assert result.status is Status.OK and "sk-test" not in result.output
        assert result.output.startswith("None")

    def test_killing_the_parent(self, executor):
        result = run_batched(executor, stdio("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)"))
        assert result.status is Status.RUNTIME_ERROR

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
        result = run_batched(executor, stdio(source))
        assert result.status is Status.OK and "parent done" in result.output
        assert result.wall_time < 1

    def test_ignoring_sigterm(self, executor):
        source = "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True: pass"
        result = run_batched(executor, stdio(source, limits=Limits(cpu_seconds=0.3)))
        assert result.status is Status.TIME_LIMIT

    def test_exit_before_printing(self, executor):
        result = run_batched(executor, stdio("import sys\nsys.exit(0)\nprint('never')"))
        assert result.status is Status.OK and result.output == ""

    def test_closing_stdout(self, executor):
        result = run_batched(executor, stdio("import sys\nprint('a')\nsys.stdout.close()"))
        assert result.status is Status.OK and result.output == "a\n"

    def test_very_long_single_line(self, executor):
        # The output's handling is under test, not the clock: FAST's 2 s of wall time ran out for
        # one of three copies on Ray beside a training run (load average 5.5).
        result = run_batched(executor, stdio("print('7' * 3_000_000)", limits=Limits(cpu_seconds=2.0)))
        assert result.status is Status.OK and len(result.output) == 3_000_001

    def test_sleeping_past_the_wall_clock(self, executor):
        result = run_batched(executor, stdio("import time\ntime.sleep(60)", limits=Limits(cpu_seconds=0.2)))
        assert result.status is Status.TIME_LIMIT and result.wall_time < 3

    def test_a_dead_worker_is_restarted(self, executor):
        os.kill(executor.provider.pool.workers[0].pid, 9)
        results = executor.run([stdio(f"print({i})") for i in range(6)])
        assert [r.output for r in results] == [f"{i}\n" for i in range(6)]


def test_isolation_none_keeps_limits_and_warns(caplog):
    with caplog.at_level("WARNING", logger="atest.sandbox"), get_executor(isolation="none", workers=1) as ex:
        looping, fine = ex.run([stdio("while True: pass", limits=Limits(cpu_seconds=0.3)), stdio("print(5)")])
    assert looping.status is Status.TIME_LIMIT and fine.output == "5\n"
    assert "isolation is off" in caplog.text


def test_unknown_isolation_is_a_clear_error():
    from atest.core.errors import InputError

    with pytest.raises(InputError, match="isolation"), get_executor(isolation="docker"):
        pass


def test_batch_size_comes_from_the_settings():
    from atest.core.sandbox.settings import resolve

    source = "import os\ninput()\nprint(os.getpid())\n"
    with get_executor(workers=1, settings=resolve(env={"ATEST_SANDBOX_BATCH": "1"})) as one_each:
        pids = [r.output for r in one_each.run(numbered(source, 6))]
    assert len(set(pids)) == 6


def test_cli_sandbox_option_selects_isolation():
    import subprocess
    import sys

    base = [sys.executable, "-m", "atest"]
    ok = subprocess.run(
        [*base, "--sandbox", "none", "prepare", "--source", "sample", "--limit", "2", "--verify", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ok.returncode == 0, ok.stderr
    assert "isolation is off" in ok.stderr
    bad = subprocess.run([*base, "--sandbox", "docker", "bon", "--help"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--sandbox 'docker'" in bad.stderr
    no_batch = subprocess.run(
        [*base, "--sandbox-batch", "0", "bon", "--help"], capture_output=True, text=True
    )
    assert no_batch.returncode == 2 and "--sandbox-batch" in no_batch.stderr
