"""One input of one program in a fresh interpreter, and a batch of them as a remote driver.

The `subprocess` provider runs every job through `run_fresh` (a new `python -I -S harness.py`
per input, its wall clock watched from outside), and the `sandboxfusion` provider sends this
file, `harness.py` and `wire.py` as the code of one SandboxFusion `/run_code` request, where
`run_batch` runs a batch of inputs of one program the same way and prints their records. So
both reach the same verdicts through the same harness, with no copy of its rules. Standard
library only: on a remote server it runs without atest.
"""

import contextlib
import json
import os
import select
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import time

START_ALLOWANCE = 1.0  # seconds on top of the wall limit for the interpreter to start
POLL = 0.02  # seconds between two looks at a running program's CPU time
# CPU seconds the interpreter may spend starting (the harness times the program itself and
# reports a time limit past its own limit; this only stops a program that never ends sooner
# than RLIMIT_CPU's whole seconds would).
START_CPU = 0.5
MARK = "atest-records "  # the driver's one line of output: MARK + a JSON list of encoded records

if __package__:  # imported by atest
    from atest.core.sandbox import harness
else:  # loaded by path beside harness.py (the remote driver)
    _path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "harness.py")
    harness = type(sys)("atest_sandbox_harness")
    harness.__file__ = _path
    with open(_path, encoding="utf-8") as _f:
        exec(compile(_f.read(), _path, "exec"), harness.__dict__)
wire = harness.wire


def run_fresh(spec: dict, run_dir: str, python: str = sys.executable):
    """Run one job (`spec`: source, kind, fn_name, input, limits as a dict, site_dirs; optionally
    the harness's `prelude` and `stdin_newline`, `wire.Harness`) in a new
    interpreter under `run_dir` (an empty private directory); its `wire.Record`."""
    limits = wire.Limits(**spec["limits"])
    job_path, result_path = os.path.join(run_dir, "job.json"), os.path.join(run_dir, "result.json")
    work = os.path.join(run_dir, "w")
    os.mkdir(work, 0o700)
    with open(job_path, "w", encoding="utf-8", errors="surrogatepass") as f:
        json.dump(spec, f)
    newline = spec.get("stdin_newline", True)
    stdin = harness.stdin_text(spec["input"], newline) if spec["kind"] == "stdio" else ""
    with (
        open(os.path.join(run_dir, "in"), "w+b") as f_in,
        open(os.path.join(run_dir, "out"), "w+b") as f_out,
        open(os.path.join(run_dir, "err"), "w+b") as f_err,
    ):
        f_in.write(stdin.encode("utf-8", "surrogateescape"))
        f_in.seek(0)
        proc = subprocess.Popen(
            [python, "-I", "-S", harness.__file__, job_path, result_path],
            stdin=f_in,
            stdout=f_out,
            stderr=f_err,
            cwd=work,
            env={**harness.PROGRAM_ENV, "HOME": work, "TMPDIR": work},
            start_new_session=True,
        )
        status, usage, reason, wall = _wait(
            proc, limits.wall_limit + START_ALLOWANCE, limits.cpu_seconds + START_CPU
        )
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever the program left running
        if not reason:
            with contextlib.suppress(OSError), open(result_path, "rb") as f:
                data = f.read()
                if data:
                    return wire.decode(data)
        return harness.ended_record(status, reason, usage, 0.0, wall, limits, f_out.fileno(), f_err.fileno())


def _wait(proc: subprocess.Popen, timeout: float, cpu_limit: float):
    """(wait status, rusage, kill reason or None, seconds): the process, killed past `timeout`
    seconds of wall clock or past `cpu_limit` seconds of its own CPU time (read from /proc, as
    the fork server's watchdog does), whichever comes first."""
    start = time.monotonic()
    pidfd = os.pidfd_open(proc.pid)
    reason = None
    try:
        while True:
            left = timeout - (time.monotonic() - start)
            ready, _, _ = select.select([pidfd], [], [], max(0.0, min(left, POLL)))
            if ready:
                break
            if left <= 0:
                reason = "wall"
            elif _cpu_seconds(proc.pid) > cpu_limit:
                reason = "cpu"
            if reason:
                with contextlib.suppress(OSError):
                    os.killpg(proc.pid, signal.SIGKILL)
                break
    finally:
        os.close(pidfd)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = status
    return status, usage, reason, time.monotonic() - start


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def site_dirs() -> list:
    """This interpreter's site-packages (the harness runs with -S; `SortedList` lives there)."""
    try:
        return [p for p in site.getsitepackages() if os.path.isdir(p)]
    except AttributeError:  # an old virtualenv's site module
        return []


def run_batch(batch: dict) -> None:
    """The remote driver: every input of `batch` (source, kind, fn_name, limits, inputs) through
    `run_fresh`, then one line on stdout, `MARK` and the JSON list of the encoded records."""
    root = tempfile.mkdtemp(prefix="atest-run-")
    dirs = site_dirs()
    records = []
    try:
        for index, value in enumerate(batch["inputs"]):
            run_dir = os.path.join(root, str(index))
            os.mkdir(run_dir, 0o700)
            spec = {key: batch[key] for key in ("source", "kind", "fn_name", "limits")}
            spec.update({key: batch[key] for key in ("prelude", "stdin_newline") if key in batch})
            record = run_fresh({**spec, "input": value, "site_dirs": dirs}, run_dir)
            records.append(record.encode().decode())
            shutil.rmtree(run_dir, ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    sys.stdout.write(MARK + json.dumps(records) + "\n")
    sys.stdout.flush()
