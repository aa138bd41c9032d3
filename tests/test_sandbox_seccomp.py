"""The syscall filter: every denied call fails with EPERM inside the sandbox (and only there),
the calls ordinary programs make still work, and no hostile call hangs or breaks a worker.

Each denied call is made from the program itself through ctypes, with every argument -1:
harmless without the filter too (EINVAL, EBADF, EFAULT, ...), which
`test_the_same_calls_unconfined_are_not_eperm` checks, so an EPERM in the sandbox is the
filter's and these tests fail without it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from atest.core.sandbox import Job, Limits, Program, Status, get_executor, seccomp

pytestmark = pytest.mark.skipif(
    os.uname().machine != "x86_64", reason="the syscall filter is x86_64-only (docs/sandbox.md)"
)

LIMITS = Limits(cpu_seconds=1.0, wall_seconds=5.0)
SKIPPED_UNCONFINED = {"vhangup"}  # acts on the caller's terminal whatever its arguments


def call_program(number: int) -> str:
    """A program that makes syscall `number` with every argument -1 and prints [result, errno]."""
    return textwrap.dedent(
        f"""\
        import ctypes, json
        libc = ctypes.CDLL(None, use_errno=True)
        ctypes.set_errno(0)
        result = libc.syscall(ctypes.c_long({number}), *[ctypes.c_long(-1)] * 6)
        print(json.dumps([result, ctypes.get_errno()]))
        """
    )


def stdio(source: str, limits: Limits = LIMITS) -> Job:
    return Job(Program(source, "stdio"), "", limits)


@pytest.fixture(scope="module", params=["namespace", "none", "subprocess"])
def executor(request):
    """The fork server with namespaces and without (isolation none), and the one-shot provider."""
    if request.param == "subprocess":
        with get_executor(executor="subprocess", workers=2) as ex:
            yield ex
    else:
        with get_executor(request.param, workers=2, executor="local") as ex:
            yield ex


def worker_pids(executor) -> list[int]:
    pool = getattr(executor.provider, "pool", None)
    return [w.pid for w in pool.workers] if pool else []


def test_the_filter_is_a_layer_of_the_fork_server(executor):
    if executor.provider.name == "local":
        assert "syscall filter" in executor.layers
        assert executor.provider.pool.filter_failure is None


def test_every_denied_call_fails_with_eperm(executor):
    before = worker_pids(executor)
    names = sorted(seccomp.DENIED_X86_64)
    results = executor.run([stdio(call_program(seccomp.DENIED_X86_64[name])) for name in names])
    answers = {}
    for name, result in zip(names, results, strict=True):
        assert result.status is Status.OK, (name, result.stderr_tail)
        answers[name] = json.loads(result.output)
    assert {name: a for name, a in answers.items() if a != [-1, 1]} == {}
    assert worker_pids(executor) == before  # no worker died or was restarted


def test_the_same_calls_unconfined_are_not_eperm():
    """Without the filter (a plain interpreter) the very same calls answer something else."""
    names = sorted(set(seccomp.DENIED_X86_64) - SKIPPED_UNCONFINED)
    answers = {}
    for name in names:
        done = subprocess.run(
            [sys.executable, "-c", call_program(seccomp.DENIED_X86_64[name])],
            capture_output=True,
            text=True,
            timeout=30,
        )
        answers[name] = json.loads(done.stdout)
    assert [name for name, a in answers.items() if a == [-1, 1]] == []


def test_a_program_that_raises_on_a_denied_call_is_a_runtime_error(executor):
    source = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "if libc.unshare(0x10000000) != 0:\n"
        "    raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))\n"
        "print('unshared')\n"
    )
    result = executor.run([stdio(source)])[0]
    assert result.status is Status.RUNTIME_ERROR and "Operation not permitted" in result.stderr_tail


def test_new_namespaces_through_clone_are_denied_and_clone3_falls_back(executor):
    source = textwrap.dedent(
        """\
        import ctypes, json, os, signal
        libc = ctypes.CDLL(None, use_errno=True)
        out = {}
        for name, flags in (("user", 0x10000000), ("net", 0x40000000), ("pid", 0x20000000)):
            ctypes.set_errno(0)
            pid = libc.syscall(56, ctypes.c_ulong(flags | signal.SIGCHLD), 0, 0, 0, 0)
            if pid == 0:
                os._exit(0)
            if pid > 0:
                os.waitpid(pid, 0)
            out[name] = [pid, ctypes.get_errno()]
        ctypes.set_errno(0)
        out["clone3"] = [libc.syscall(435, 0, 0), ctypes.get_errno()]
        print(json.dumps(out))
        """
    )
    result = executor.run([stdio(source)])[0]
    assert result.status is Status.OK, result.stderr_tail
    out = json.loads(result.output)
    assert out == {"user": [-1, 1], "net": [-1, 1], "pid": [-1, 1], "clone3": [-1, 38]}


def test_what_programs_commonly_do_still_works(executor):
    source = textwrap.dedent(
        """\
        import os, subprocess, sys, threading, time
        from concurrent.futures import ThreadPoolExecutor
        box = []
        t = threading.Thread(target=lambda: box.append(sum(range(10))))
        t.start(); t.join()
        pid = os.fork()
        if pid == 0:
            os._exit(7)
        _, status = os.waitpid(pid, 0)
        echo = subprocess.run([sys.executable, "-c", "print(5)"], capture_output=True, text=True).stdout
        with ThreadPoolExecutor(2) as pool:
            squares = list(pool.map(abs, [-1, -2, -3]))
        print(box[0], os.waitstatus_to_exitcode(status), echo.strip(), squares, time.monotonic() > 0)
        """
    )
    result = executor.run([stdio(source, Limits(cpu_seconds=2.0, wall_seconds=10.0))])[0]
    assert (result.status, result.output) == (Status.OK, "45 7 5 [1, 2, 3] True\n"), result.stderr_tail


def test_other_abis_kill_the_program(executor):
    """A 32-bit `int 0x80` or an x32 number would bypass the filter's table: the process dies."""
    int80 = textwrap.dedent(
        """\
        import ctypes, mmap
        code = bytes([0xB8, 26, 0, 0, 0, 0xCD, 0x80, 0xC3])  # mov eax, 26 (i386 ptrace); int 0x80; ret
        page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        page.write(code)
        address = ctypes.addressof(ctypes.c_char.from_buffer(page))
        print(ctypes.CFUNCTYPE(ctypes.c_int)(address)())
        """
    )
    x32 = "import ctypes\nprint(ctypes.CDLL(None).syscall(0x40000000 | 39))\n"  # x32 getpid
    for source in (int80, x32):
        result = executor.run([stdio(source)])[0]
        assert result.status is Status.RUNTIME_ERROR and result.output is None
        # SIGSYS from the filter; a kernel without 32-bit emulation faults int 0x80 (SIGSEGV) first
        assert result.exit_code in (-signal.SIGSYS, -signal.SIGSEGV), result.exit_code


def test_program_bytes_and_architectures():
    code = seccomp.program("x86_64")
    assert code is not None and len(code) % seccomp.INSTRUCTION.size == 0
    assert len(code) // seccomp.INSTRUCTION.size < 100
    assert seccomp.program("aarch64") is None and seccomp.program("riscv64") is None
    with pytest.raises(ValueError, match="out of range"):
        seccomp._assemble(
            [(seccomp.JEQ_K, "far", 0, 1)] + [(seccomp.RET_K, 0, 0, 0)] * 300 + [("label", "far")]
        )
