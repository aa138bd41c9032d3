"""What "run this program on this input" means, for every provider: one copy, standard library only.

The fork server's worker (zygote.py, loaded by path before it confines itself) and the
one-process-per-run provider (this file run as a script) both execute programs through
these functions, and the caller's side settles their records with `settle`, so a verdict
never depends on where a program ran: the prelude of names, the functional call
convention, the JSON encoding of return values, the stdin newline rule, the environment,
the exit-code and limit rules, how a record is read off a finished or a dead process, and
the "the function returned" check are defined here and nowhere else. The records and
limits themselves are `wire`'s.

As a script (`python -I -S harness.py JOB RESULT`), it runs one input of one program: the
job file holds source, kind, fn_name, the input and the limits; stdin, stdout and stderr
are already the program's; the result record (the same one the fork server sends) is
written to RESULT.
"""

import atexit
import builtins
import json
import linecache
import math
import os
import resource
import signal
import sys
import time
import traceback

STDERR_TAIL = 2000
ONE_SHOT_NOFILE = 64
PROGRAM_ENV = {  # a program's whole environment, with HOME and TMPDIR set to its work dir
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PYTHONIOENCODING": "utf-8",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


def load_beside(filename: str):
    """A module of this directory, executed by path into a module object of its own.

    How the sandbox's own processes (run with `-I -S`, never importing atest) load it: this
    directory never joins sys.path, where its modules would shadow standard ones (`types`)
    for programs.
    """
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), filename)
    module = type(sys)("atest_sandbox_" + filename.removesuffix(".py"))
    module.__file__ = path
    with open(path, encoding="utf-8") as f:
        exec(compile(f.read(), path, "exec"), module.__dict__)
    return module


if __package__:  # imported by atest: the same classes its callers hold
    from atest.core.sandbox import wire
else:  # run as a script, or loaded by path by zygote.py
    wire = load_beside("wire.py")
if __package__:
    from atest.core.sandbox import seccomp
else:
    seccomp = load_beside("seccomp.py")
Limits, Record, Status = wire.Limits, wire.Record, wire.Status


# Source run as a program's first lines, by prelude name (`wire.Harness.prelude`). "utrl": the
# header the UTRL authors' runner writes above every Python 3 program (testing_utils.py); its
# star-imports shadow builtins (`pow` is `math.pow`), which is their rule, reproduced.
_UTRL_MODULES = (
    "random", "functools", "itertools", "collections", "heapq", "bisect", "operator", "re",
    "string", "sys", "time", "math", "datetime",
)  # fmt: skip
_UTRL_STAR_MODULES = (
    "typing", "functools", "collections", "itertools", "heapq", "string", "operator", "math",
    "bisect", "re",
)  # fmt: skip
PRELUDE_SOURCES = {
    "atest": "",
    "utrl": "".join(f"import {m}\n" for m in _UTRL_MODULES)
    + "".join(f"from {m} import *\n" for m in _UTRL_STAR_MODULES)
    + "\n",
}


def program_text(job: dict) -> str:
    """What runs as `main.py`: the prelude's source, then the program's."""
    return PRELUDE_SOURCES[job.get("prelude", "atest")] + job["source"]


def builtins_for(job: dict, atest_builtins: dict) -> dict:
    """The builtins a job's program sees: atest's prelude names behind Python's, or (any other
    prelude, which brings its names as source) Python's alone."""
    return atest_builtins if job.get("prelude", "atest") == "atest" else dict(builtins.__dict__)


def prelude() -> dict:
    """Names competitive-programming solutions use without importing them (LeetCode style).

    Star-imports would shadow builtins (`math.pow` over `pow`, breaking `pow(a, b, m)`), so
    every builtin name is filtered out.
    """
    import bisect
    import collections
    import functools
    import heapq
    import itertools
    import operator
    import string
    import typing

    names: dict = {}
    for module in (typing, collections, itertools, functools, heapq, bisect, string, operator, math):
        public = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]
        for name in public:
            if hasattr(module, name) and not hasattr(builtins, name):
                names[name] = getattr(module, name)
    for module in (bisect, collections, functools, heapq, itertools, math, operator, string, typing):
        names[module.__name__] = module
    for extra in ("re", "random", "sys", "os", "json", "copy", "datetime"):
        names[extra] = __import__(extra)
    names["inf"] = math.inf
    try:
        import sortedcontainers

        for name in ("SortedList", "SortedDict", "SortedSet"):
            names[name] = getattr(sortedcontainers, name)
    except ImportError:
        pass
    return names


def program_builtins(names: dict) -> dict:
    """The builtins programs see: Python's, plus prelude names that do not collide with them.

    Built once per worker; a program's globals start empty and fall back to this dict, so
    no per-run copy of the prelude (which would copy-on-write its pages in every fork).
    """
    merged = dict(builtins.__dict__)
    for name, value in names.items():
        merged.setdefault(name, value)
    return merged


def stdin_text(value, newline: bool = True) -> str:
    """A stdio input as given, with a final newline added only when it lacks one (`newline`;
    without it, exactly as given)."""
    text = value if isinstance(value, str) else ""
    return text if not newline or not text or text.endswith("\n") else text + "\n"


def to_json(value) -> str:
    def convert(obj):
        if isinstance(obj, (set, frozenset)):
            try:
                return sorted(obj)
            except TypeError:
                return list(obj)
        raise TypeError(f"return value of type {type(obj).__name__} is not JSON-serializable")

    return json.dumps(value, default=convert)


def call_entry(namespace: dict, fn_name: str, args):
    """Call a `Solution` method or a top-level function with JSON arguments (list or object)."""
    solution = namespace.get("Solution")
    if isinstance(solution, type) and hasattr(solution, fn_name):
        target = getattr(solution(), fn_name)
    elif callable(namespace.get(fn_name)):
        target = namespace[fn_name]
    else:
        raise NameError(f"no function or Solution method named {fn_name!r}")
    if isinstance(args, dict):
        return target(**args)
    return target(*args)


def open_std_streams() -> None:
    """sys.stdin/stdout/stderr over fds 0-2, as a fresh interpreter opens them."""
    sys.stdin = sys.__stdin__ = open(0, encoding="utf-8", errors="surrogateescape", closefd=False)  # noqa: SIM115
    sys.stdout = sys.__stdout__ = open(1, "w", encoding="utf-8", errors="surrogateescape", closefd=False)  # noqa: SIM115
    sys.stderr = sys.__stderr__ = open(  # noqa: SIM115
        2, "w", encoding="utf-8", errors="backslashreplace", closefd=False, buffering=1
    )


def fresh_main(builtins_dict: dict) -> dict:
    """A new `__main__` module, as a fresh interpreter would run the program in."""
    sys.argv = ["main.py"]
    module = type(sys)("__main__")
    module.__dict__.update(__builtins__=dict(builtins_dict), __file__="main.py")
    sys.modules["__main__"] = module
    return module.__dict__


def remember_source(source: str) -> None:
    """Let tracebacks quote the program's lines."""
    linecache.cache["main.py"] = (len(source), None, source.splitlines(True), "main.py")


def run_program(job: dict, value, namespace: dict, compiled: list) -> tuple[int, str | None, bool]:
    """Execute the program on one input in this process: (exit code, returned JSON, MemoryError)."""
    code, returned, out_of_memory = 0, None, False
    try:
        if not compiled:
            compiled.append(compile(program_text(job), "main.py", "exec"))
        exec(compiled[0], namespace)
        if job["kind"] == "functional":
            returned = to_json(call_entry(namespace, job["fn_name"], value))
    except SystemExit as stop:
        if stop.code is None:
            code = 0
        elif isinstance(stop.code, int):
            code = stop.code & 0xFF
        else:
            print(stop.code, file=sys.stderr)
            code = 1
    except MemoryError:
        out_of_memory, code = True, 1
    except BaseException as exc:
        traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next)
        code = 1
    return code, returned, out_of_memory


def finish_program(namespace: dict) -> int:
    """What interpreter shutdown does after the main module: join threads, run atexit, clear
    the module (finalizers may still write), flush the standard streams."""
    code = 0
    threading = sys.modules.get("threading")
    if threading is not None:
        for thread in threading.enumerate():
            if thread is not threading.current_thread() and not thread.daemon:
                thread.join()
    if atexit._ncallbacks():
        atexit._run_exitfuncs()
        atexit._clear()
    namespace.clear()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except ValueError:
            pass  # the program closed it, which flushed it
        except OSError:
            code = 1
    return code


def finished_status(
    cpu_used: float, cpu: float, out_size: int, cap: int, out_of_memory: bool, code: int
) -> Status:
    """The status of an input that ran to its end inside the harness."""
    if cpu_used > cpu:
        return Status.TIME_LIMIT
    if out_size > cap:
        return Status.OUTPUT_LIMIT
    if out_of_memory:
        return Status.MEMORY_LIMIT
    return Status.OK if code == 0 else Status.RUNTIME_ERROR


def ended_status(exit_status: int, reason, cpu_used: float, cpu: float, out_size: int, cap: int):
    """(status, exit code) of a process that died, was killed (`reason`: cpu, wall, ...) or exited."""
    signum = os.WTERMSIG(exit_status) if os.WIFSIGNALED(exit_status) else None
    code = os.WEXITSTATUS(exit_status) if os.WIFEXITED(exit_status) else None
    if reason in ("cpu", "wall") or signum == signal.SIGXCPU or cpu_used > cpu:
        return Status.TIME_LIMIT, code
    if out_size > cap or signum == signal.SIGXFSZ:
        return Status.OUTPUT_LIMIT, code
    if reason or signum is not None or code != 0:
        return Status.RUNTIME_ERROR, -signum if signum is not None else code
    return Status.OK, code


def run_input(
    job: dict, value, namespace: dict, compiled: list, limits: Limits, out: int, err: int
) -> Record:
    """Run the program on one input in this process, from `namespace` on; its stdout and
    stderr are the files `out` and `err`, which the record's output and tail are read from."""
    cpu_start, wall_start = time.process_time(), time.monotonic()
    code, returned, out_of_memory = run_program(job, value, namespace, compiled)
    code = finish_program(namespace) or code
    cpu_used, wall_used = time.process_time() - cpu_start, time.monotonic() - wall_start
    cap = limits.output_bytes
    status = finished_status(cpu_used, limits.cpu_seconds, os.fstat(out).st_size, cap, out_of_memory, code)
    output = None
    if status == Status.OK:
        output = returned if returned is not None else _read_output(out, cap)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return Record(status, output, returned is not None, _stderr_tail(err), code, cpu_used, wall_used, peak)


def ended_record(
    exit_status: int, reason, usage, cpu_base: float, wall_used: float, limits: Limits, out: int, err: int
) -> Record:
    """The record of an input whose process died, was killed (`reason`) or exited before it
    reported, read from outside: `usage` is the process's rusage, `cpu_base` its CPU seconds
    before this input."""
    cpu_used = max(0.0, usage.ru_utime + usage.ru_stime - cpu_base)
    cap = limits.output_bytes
    status, code = ended_status(exit_status, reason, cpu_used, limits.cpu_seconds, os.fstat(out).st_size, cap)
    output = _read_output(out, cap) if status == Status.OK else None
    stderr = _stderr_tail(err)
    if reason == "corrupt":
        stderr = (stderr + "\nthe program wrote to the sandbox's report channel").strip()
    return Record(status, output, False, stderr, code, cpu_used, wall_used, usage.ru_maxrss / 1024)


def _read_output(fd: int, cap: int) -> str:
    return os.pread(fd, cap, 0).decode("utf-8", "surrogateescape")


def _stderr_tail(fd: int) -> str:
    size = os.fstat(fd).st_size
    return os.pread(fd, STDERR_TAIL, max(0, size - STDERR_TAIL)).decode("utf-8", "replace")


def limit_process(cpu_total: float, memory_mb: int, output_bytes: int) -> None:
    """Process-wide limits; CPU is the budget of every input this process runs (the caller
    times each input against its own limit)."""
    cpu_hard = math.ceil(cpu_total) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_hard, cpu_hard + 1))
    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    stack = min(memory // 2, 512 * 1024 * 1024)
    resource.setrlimit(resource.RLIMIT_STACK, (stack, stack))
    resource.setrlimit(resource.RLIMIT_FSIZE, (output_bytes + 1, output_bytes + 1))


def confine_syscalls(code: bytes | None) -> str | None:
    """Install the syscall filter (`seccomp.program()`), last of a program process's layers;
    returns why it could not be (an architecture without one, a kernel without seccomp)."""
    if code is None:
        return f"no syscall filter for {os.uname().machine}"
    try:
        seccomp.install(code)
    except OSError as exc:
        return str(exc)
    return None


def settle(kind: str, record: Record) -> tuple[Status, object, str]:
    """The caller's side of a record: a functional call counts only if the function returned
    a JSON value; (status, decoded output or None, stderr tail)."""
    status, stderr = record.status, record.stderr_tail
    if status == Status.OK and kind == "functional":
        if not record.returned:
            return (
                Status.RUNTIME_ERROR,
                None,
                (stderr + "\nthe program exited before the function returned").strip(),
            )
        try:
            return status, json.loads(record.output), stderr
        except (TypeError, ValueError):
            return Status.RUNTIME_ERROR, None, stderr
    return status, record.output if status == Status.OK else None, stderr


def _run_once(job_path: str, result_path: str) -> int:
    """One input of one program in this fresh process; the record goes to `result_path`."""
    with open(job_path, encoding="utf-8", errors="surrogatepass") as f:
        job = json.load(f)
    os.unlink(job_path)
    result = os.open(result_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    limits = Limits(**job["limits"])
    sys.path.extend(p for p in job["site_dirs"] if p not in sys.path)
    open_std_streams()
    builtins_dict = builtins_for(job, program_builtins(prelude()))
    remember_source(program_text(job))
    resource.setrlimit(resource.RLIMIT_NOFILE, (ONE_SHOT_NOFILE, ONE_SHOT_NOFILE))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    limit_process(limits.cpu_seconds, limits.memory_mb, limits.output_bytes)
    confine_syscalls(seccomp.program())
    namespace = fresh_main(builtins_dict)
    record = run_input(job, job["input"], namespace, [], limits, 1, 2)
    view = memoryview(record.encode())
    while view:
        view = view[os.write(result, view) :]
    os.close(result)
    return record.exit_code


if __name__ == "__main__":
    os._exit(_run_once(sys.argv[1], sys.argv[2]))
