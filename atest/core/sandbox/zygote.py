"""The sandbox worker: a small, pre-started interpreter that forks a child per batch of inputs.

Run as a script (`python -I zygote.py CONFIG_JSON`), never imported by atest: it must stay
small (RLIMIT_AS is applied to its forks) and hold nothing but its own code. Protocol, over
two pipes from the supervisor (its framing, limits and records are wire.py's, shared with
the supervisor):

* request: a header (the limits, the input count); the job itself (source, kind, fn_name,
  the inputs) waits in a file of the supervisor's private job directory, which only the
  forked child reads, so the worker never holds a program's code or any expected output;
* response: a record count, then per input a length and an encoded record (status, output
  text, stderr tail, exit code, cpu/wall time, peak memory); or, when the worker itself
  failed, `FAULT` in place of the count and a length-prefixed message.

One child runs the inputs of one program in turn, each in a fresh `__main__` namespace
with its own stdin, and runs the interpreter's shutdown steps (non-daemon threads, atexit,
flushes) after each, as a process of its own would. It reports every finished input over a
private pipe (`RECORD`: length, the child's CPU so far), so the worker enforces the CPU and
wall limits per input and knows which input a dying child was on. Forking pays for itself
only while no input can see its predecessors: before each next input the child restores
what a program may change in place (recursion limit, sys.path, cwd, umask, ...) and checks
what it cannot undo (threads, timers, child processes, open files, patched builtins or sys,
environment, lowered limits, a large heap); if anything is left, it exits with
`FRESH_PROCESS` and the worker forks a new child for the rest. A child killed mid-input ends
that input's verdict; the inputs after it run in a new child.

Isolation set up once at start (mode "namespace"): new mount, network, IPC and UTS
namespaces (plus a user namespace when not root), a fresh root holding only read-only binds
of the system and Python directories, an empty /tmp, and a few device nodes. Each child then
gets its own process group and work directory, resource limits, a clean environment,
no-new-privileges, and (as root) a uid of its own, so it cannot read host files, reach the
network, signal the worker, or outlive its batch: the worker is a child subreaper and kills
every descendant left when the child ends. Last, the worker installs the syscall filter
(seccomp.py, in every isolation mode), which every child inherits.
"""

import _thread
import atexit
import builtins
import contextlib
import ctypes
import errno
import gc
import json
import os
import resource
import select
import signal
import struct
import sys
import time
import traceback

RECORD = struct.Struct("<Qd")  # one input's result: encoded length, the child's CPU seconds so far
FRESH_PROCESS = 75  # a child's exit code: run the next input in a new fork

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
SYSCALLS = {"x86_64": {"pivot_root": 155, "capset": 126}, "aarch64": {"pivot_root": 41, "capset": 91}}

PRIVATE = "/.atest"  # root-only: the child's stdin/stdout/stderr/result files
WORKDIR = "/tmp/w"
RLIMITS = (
    resource.RLIMIT_CPU,
    resource.RLIMIT_AS,
    resource.RLIMIT_STACK,
    resource.RLIMIT_FSIZE,
    resource.RLIMIT_NOFILE,
    resource.RLIMIT_NPROC,
)
PROGRAM_NPROC = 64
PROGRAM_NOFILE = 64

_libc = ctypes.CDLL(None, use_errno=True)  # the interpreter is linked against libc


def _load_harness():
    """harness.py (and through it wire.py), read before the worker confines itself (atest's
    tree is not visible after); executed by path for the reason `harness.load_beside` gives."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "harness.py")
    module = type(sys)("atest_sandbox_harness")
    module.__file__ = path
    with open(path, encoding="utf-8") as f:
        exec(compile(f.read(), path, "exec"), module.__dict__)
    return module


harness = _load_harness()
wire = harness.wire
seccomp = harness.seccomp
Limits = wire.Limits


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source, target, fstype, flags, data=None) -> None:
    enc = [None if v is None else v.encode() for v in (source, target, fstype, data)]
    _check(_libc.mount(enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3]), f"mount {target}")


def _syscall(name: str, *args) -> int:
    machine = os.uname().machine
    number = SYSCALLS.get(machine, {}).get(name)
    if number is None:
        raise OSError(errno.ENOSYS, f"{name} on {machine}")
    return _libc.syscall(number, *args)


# ---------------------------------------------------------------- program namespace


class _Baseline:
    """A clean child's process-wide state, taken before its first input.

    After each input the child either restores a setting (cheap, always the same) or, when a
    program left something it cannot undo (a live thread or process, an open file, a patched
    builtin, a grown heap), exits so that the next input runs in a fresh fork.
    """

    def __init__(self, workdir: str, memory_bytes: int):
        self.workdir = workdir
        self.memory_bytes = memory_bytes
        self.builtins = dict(builtins.__dict__)
        self.sys_names = set(sys.__dict__)
        self.environ = dict(os.environ)
        self.path = list(sys.path)
        self.rlimits = [resource.getrlimit(r) for r in RLIMITS]
        self.recursion = sys.getrecursionlimit()
        self.int_digits = sys.get_int_max_str_digits()
        self.gc_threshold = gc.get_threshold()
        probe = os.dup(0)
        os.close(probe)
        self.free_fd = probe

    def restore(self) -> None:
        sys.setrecursionlimit(self.recursion)
        sys.set_int_max_str_digits(self.int_digits)
        sys.settrace(None)
        sys.setprofile(None)
        sys.path[:] = self.path
        gc.enable()
        gc.set_threshold(*self.gc_threshold)
        threading = sys.modules.get("threading")
        if threading is not None:
            threading.stack_size(0)
        os.umask(0o077)
        os.chdir(self.workdir)

    def pristine(self) -> bool:
        if _thread._count() or signal.alarm(0) or not _no_children():
            return False
        probe = os.dup(0)
        os.close(probe)
        return (
            probe == self.free_fd
            and builtins.__dict__ == self.builtins
            and sys.__dict__.keys() == self.sys_names
            and dict(os.environ) == self.environ
            and not os.listdir(self.workdir)
            and resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 < self.memory_bytes // 4
            and [resource.getrlimit(r) for r in RLIMITS] == self.rlimits
        )


def _no_children() -> bool:
    """Reap finished descendants (the child is their subreaper); False if any still runs."""
    try:
        while True:
            pid, _status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                return False
    except ChildProcessError:
        return True


def _open_streams(fds: dict, stdin: bytes) -> None:
    """Give the next input the process a fresh interpreter would have: its stdin, empty outputs."""
    os.ftruncate(fds["stdin"], 0)
    os.pwrite(fds["stdin"], stdin, 0)
    os.lseek(fds["stdin"], 0, os.SEEK_SET)
    for target, name in enumerate(("stdin", "out", "err")):
        os.dup2(fds[name], target)
    for fd in (1, 2):
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
    harness.open_std_streams()


def _input_record(
    job: dict, index: int, fds: dict, program_builtins: dict, compiled: list, limits: Limits
) -> bytes:
    value = job["inputs"][index]
    stdin = value.encode("utf-8", "surrogateescape") if job["kind"] == "stdio" else b""
    _open_streams(fds, stdin)
    namespace = harness.fresh_main(program_builtins)
    return harness.run_input(job, value, namespace, compiled, limits, fds["out"], fds["err"]).encode()


def _run_inputs(
    job: dict, first: int, fds: dict, program_builtins: dict, limits: Limits, baseline: _Baseline
) -> int:
    """Run inputs from `first` on, one record each; returns the child's exit code."""
    harness.remember_source(harness.program_text(job))
    program_builtins = harness.builtins_for(job, program_builtins)
    compiled: list = []
    count = len(job["inputs"])
    for index in range(first, count):
        data = _input_record(job, index, fds, program_builtins, compiled, limits)
        _write_all(fds["report"], RECORD.pack(len(data), time.process_time()) + data)
        if index + 1 < count:
            if not baseline.pristine():
                return FRESH_PROCESS
            baseline.restore()
    return 0


def _limit_worker(limit_nproc: bool) -> None:
    """Limits and settings every program shares, applied once to the worker and inherited.

    RLIMIT_NPROC does not bind root, but it does bind the uid each child switches to.
    """
    resource.setrlimit(resource.RLIMIT_NOFILE, (PROGRAM_NOFILE, PROGRAM_NOFILE))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if limit_nproc:
        resource.setrlimit(resource.RLIMIT_NPROC, (PROGRAM_NPROC, PROGRAM_NPROC))
    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def _drop_capabilities() -> None:
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)
    data = (ctypes.c_uint32 * 6)()
    _check(_syscall("capset", header, data), "capset")


def _read_job(name: str, dir_fd: int) -> bytes:
    fd = os.open(name, os.O_RDONLY, dir_fd=dir_fd)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _child(state: dict, limits: Limits, first: int, report: int) -> None:
    """The forked child: read its job, confine itself, run inputs from `first`, never return."""
    code = 1
    try:
        os.setsid()
        job = json.loads(_read_job(state["job_name"], state["job_dir"]))
        for fd in (state["job_dir"], state["req"], state["resp"], state["proc"]):
            if fd is not None:
                os.close(fd)
        workdir = state["workdir"]
        try:
            os.mkdir(workdir, 0o700)
        except FileExistsError:
            _remove_tree(workdir)
            os.mkdir(workdir, 0o700)
        uid = state["uid"]
        if uid is not None:
            os.chown(workdir, uid, uid)
        fds = {"stdin": os.memfd_create("stdin"), "out": state["out"], "err": state["err"], "report": report}
        os.umask(0o077)
        os.chdir(workdir)
        cpu_total = limits.cpu_seconds * (len(job["inputs"]) - first)
        harness.limit_process(cpu_total, limits.memory_mb, limits.output_bytes)
        _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        if uid is not None:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        elif state["drop_caps"]:
            _drop_capabilities()
        if atexit._ncallbacks():
            atexit._clear()
        baseline = _Baseline(workdir, limits.memory_mb * 1024 * 1024)
        code = _run_inputs(job, first, fds, state["builtins"], limits, baseline)
    except BaseException:
        try:
            traceback.print_exc()
        finally:
            code = FRESH_PROCESS  # the worker forks again; with no record yet, the input failed
    os._exit(code)


# ---------------------------------------------------------------- supervision of one batch


def _cpu_seconds(proc_fd, pid: int) -> float:
    try:
        fd = os.open(f"{pid}/stat", os.O_RDONLY, dir_fd=proc_fd)
        try:
            fields = os.read(fd, 1024).rsplit(b")", 1)[1].split()
        finally:
            os.close(fd)
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _children(proc_fd: int) -> list[int]:
    me = os.getpid()
    found: list[int] = []
    try:
        for tid in _listdir_fd(proc_fd, f"{me}/task"):
            fd = os.open(f"{me}/task/{tid}/children", os.O_RDONLY, dir_fd=proc_fd)
            try:
                found += [int(p) for p in os.read(fd, 65536).split()]
            finally:
                os.close(fd)
    except OSError:
        pass
    return found


def _listdir_fd(proc_fd: int, path: str) -> list[str]:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY, dir_fd=proc_fd)
    try:
        return os.listdir(fd)
    finally:
        os.close(fd)


def _kill_leftovers(pgid: int, proc_fd) -> None:
    """Kill and reap every descendant still around (daemons were reparented to us)."""
    with contextlib.suppress(OSError):
        os.killpg(pgid, signal.SIGKILL)
    for _ in range(10_000):
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid:
            continue
        for child in _children(proc_fd):
            for kill in (os.kill, os.killpg):
                with contextlib.suppress(OSError):
                    kill(child, signal.SIGKILL)
        time.sleep(0.0005)


class _Watch:
    """The worker's view of one child: the records it has sent and when its current input began."""

    def __init__(self, expected: int, cap: int):
        self.expected = expected
        self.max_record = 4 * cap + harness.STDERR_TAIL * 8 + 4096
        self.buffer = bytearray()
        self.records: list[bytes] = []
        self.started = time.monotonic()
        self.cpu_base = 0.0
        self.corrupt = False

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= RECORD.size and not self.corrupt:
            size, cpu_total = RECORD.unpack_from(self.buffer)
            if size > self.max_record or len(self.records) >= self.expected:
                self.corrupt = True
                return
            end = RECORD.size + size
            if len(self.buffer) < end:
                return
            self.records.append(bytes(self.buffer[RECORD.size : end]))
            del self.buffer[:end]
            self.started = time.monotonic()
            self.cpu_base = cpu_total


def _drain(fd: int, watch: _Watch) -> None:
    os.set_blocking(fd, False)
    with contextlib.suppress(BlockingIOError):
        while data := os.read(fd, 1 << 20):
            watch.feed(data)


def _watch_child(pid: int, report: int, limits: Limits, proc_fd, watch: _Watch):
    """Collect the child's records; kill it when the input it is on passes a CPU or wall limit."""
    cpu, wall = limits.cpu_seconds, limits.wall_limit
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    poller.register(report, select.POLLIN)
    reason = None
    try:
        while True:
            elapsed = time.monotonic() - watch.started
            if elapsed >= wall:
                reason = "wall"
                break
            if elapsed >= cpu and _cpu_seconds(proc_fd, pid) - watch.cpu_base > cpu:
                reason = "cpu"
                break
            step = cpu - elapsed if elapsed < cpu else 0.02
            events = poller.poll(max(1, int(min(step, wall - elapsed) * 1000)))
            exited = False
            for fd, _event in events:
                if fd == pidfd:
                    exited = True
                elif data := os.read(report, 1 << 20):
                    watch.feed(data)
                else:
                    poller.unregister(report)
            if watch.corrupt:
                reason = "corrupt"
                break
            if exited:
                _drain(report, watch)
                break
        if reason:
            for kill in (os.killpg, os.kill):
                with contextlib.suppress(OSError):
                    kill(pid, signal.SIGKILL)
        _, status, usage = os.wait4(pid, 0)
    finally:
        os.close(pidfd)
    return status, usage, reason, time.monotonic() - watch.started


def _rewind(*fds: int) -> None:
    """Empty the output files; the child shares their offsets, so rewind them too."""
    for fd in fds:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)


def _remove_tree(path: str) -> None:
    """Delete a work directory (shutil would pull compression libraries into every fork)."""
    try:
        os.rmdir(path)
        return
    except FileNotFoundError:
        return
    except OSError:
        pass
    for top, dirs, files in os.walk(path, topdown=False):
        for name in files:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(top, name))
        for name in dirs:
            target = os.path.join(top, name)
            try:
                os.rmdir(target)
            except NotADirectoryError:
                os.unlink(target)
            except OSError:
                pass
    with contextlib.suppress(OSError):
        os.rmdir(path)


def _run_child(state: dict, limits: Limits, first: int, count: int) -> list[bytes]:
    """Fork one child for inputs `first`.. and return its records (the last may be its death)."""
    _rewind(state["out"], state["err"])
    report_r, report_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(report_r)
        _child(state, limits, first, report_w)
    os.close(report_w)
    watch = _Watch(count - first, limits.output_bytes)
    try:
        exit_status, usage, reason, wall_used = _watch_child(pid, report_r, limits, state["proc"], watch)
    finally:
        os.close(report_r)
    _kill_leftovers(pid, state["proc"])
    records = watch.records
    code = os.WEXITSTATUS(exit_status) if os.WIFEXITED(exit_status) else None
    finished = len(records) == count - first and code == 0
    moved_on = bool(records) and code == FRESH_PROCESS
    if reason or not (finished or moved_on):
        record = harness.ended_record(
            exit_status, reason, usage, watch.cpu_base, wall_used, limits, state["out"], state["err"]
        )
        records.append(record.encode())
    return records


def _execute(state: dict, limits: Limits, count: int) -> list[bytes]:
    """Run the job's `count` inputs, forking again after any input that ends its child."""
    results: list[bytes] = []
    while len(results) < count:
        results += _run_child(state, limits, len(results), count)
    _remove_tree(state["workdir"])
    return results


# ---------------------------------------------------------------- isolation set-up


def _held_binds(sources: list[str]) -> list[tuple[str, str | None, int | None]]:
    """Each bind source that exists, as (path, its symlink's text or None, an O_PATH descriptor
    or None), taken before the tmpfs goes over /tmp: a source under /tmp (a virtualenv or an
    interpreter there: a repository cloned into /tmp) is hidden once it is, so it is held open
    and bound from /proc/self/fd (without this the SandboxFusion driver's interpreter was
    missing in the sandbox and every program "ended its driver")."""
    held = []
    for source in sources:
        if not os.path.lexists(source):
            continue
        if os.path.islink(source):
            held.append((source, os.readlink(source), None))
        elif source == "/tmp" or source.startswith("/tmp/"):
            held.append((source, None, os.open(source, os.O_PATH | os.O_CLOEXEC)))
        else:
            held.append((source, None, None))
    return held


def _bind_readonly(source: str, newroot: str, link: str | None = None, fd: int | None = None) -> None:
    target = newroot + source
    if link is not None:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.lexists(target):
            os.symlink(link, target)
        return
    origin = source if fd is None else f"/proc/self/fd/{fd}"
    if os.path.isdir(origin):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    _mount(origin, target, None, MS_BIND | MS_REC)
    locked = MS_NOSUID | MS_NODEV
    flags = MS_BIND | MS_REMOUNT | MS_RDONLY
    try:
        _mount(None, target, None, flags)
    except OSError:
        _mount(None, target, None, flags | locked)


def _enter_namespaces(config: dict) -> list[str]:
    """Unshare and swap the root; returns the layers in place (raises if namespaces are refused)."""
    root = os.geteuid() == 0
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | (0 if root else CLONE_NEWUSER)
    _check(_libc.unshare(flags), "unshare")
    if not root:
        for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    binds = _held_binds(config["binds"])
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=755")
    newroot = "/tmp/root"
    os.mkdir(newroot)
    _mount(
        "tmpfs",
        newroot,
        "tmpfs",
        MS_NOSUID | MS_NODEV,
        f"size={config['tmpfs_mb']}m,nr_inodes=20000,mode=755",
    )
    for source, link, fd in binds:
        _bind_readonly(source, newroot, link, fd)
        if fd is not None:
            os.close(fd)
    os.makedirs(newroot + "/dev", exist_ok=True)
    for dev in ("null", "zero", "random", "urandom"):
        path = f"{newroot}/dev/{dev}"
        open(path, "a").close()
        _mount(f"/dev/{dev}", path, None, MS_BIND)
    os.makedirs(newroot + "/tmp", mode=0o755, exist_ok=True)
    os.makedirs(newroot + PRIVATE, mode=0o700, exist_ok=True)
    os.mkdir(newroot + "/.old")
    _check(_syscall("pivot_root", newroot.encode(), (newroot + "/.old").encode()), "pivot_root")
    os.chdir("/")
    _check(_libc.umount2(b"/.old", MNT_DETACH), "umount old root")
    os.rmdir("/.old")
    _libc.sethostname(b"sandbox", 7)
    layers = ["network namespace", "mount namespace", "read-only minimal root"]
    if not root:
        layers.insert(0, "user namespace")
    return layers


def _setup(config: dict) -> tuple[dict, list[str], str | None, str | None]:
    sys.path.extend(p for p in config["site_dirs"] if p not in sys.path)
    program_builtins = harness.program_builtins(harness.prelude())
    proc_fd = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY)
    host_root = os.geteuid() == 0  # inside a new user namespace everyone is uid 0
    state = {
        "job_dir": config["job_dir"],
        "job_name": config["job_name"],
        "req": config["req"],
        "resp": config["resp"],
        "proc": proc_fd,
        "builtins": program_builtins,
        "uid": None,
        "drop_caps": False,
        "limit_nproc": not host_root,
    }
    failure = None
    layers: list[str] = []
    if config["isolation"] == "namespace":
        try:
            layers = _enter_namespaces(config)
            state["private"], state["workdir"] = PRIVATE, WORKDIR
        except OSError as exc:
            failure = str(exc)
    if config["isolation"] != "namespace" or failure:
        base = config["fallback_dir"]
        state["private"] = os.path.join(base, "io")
        state["workdir"] = os.path.join(base, "w")
        os.makedirs(state["private"], mode=0o700, exist_ok=True)
    elif host_root:
        state["uid"] = config["uid_base"] + os.getpid()
        state["limit_nproc"] = True
        layers.append("unprivileged uid of its own")
    else:
        state["drop_caps"] = True
        layers.append("no capabilities")
    for name in ("out", "err"):
        state[name] = os.open(
            os.path.join(state["private"], name), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600
        )
    os.environ.clear()
    os.environ.update(harness.PROGRAM_ENV, HOME=state["workdir"], TMPDIR=state["workdir"])
    _limit_worker(state["limit_nproc"])
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    filter_failure = harness.confine_syscalls(seccomp.program())  # last: inherited by every fork
    if not filter_failure:
        layers.append("syscall filter")
    return state, layers, failure, filter_failure


def _read_exact(fd: int, n: int) -> bytes:
    chunks = []
    while n:
        chunk = os.read(fd, n)
        if not chunk:
            return b""
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _send(fd: int, message: dict) -> None:
    data = json.dumps(message).encode()
    _write_all(fd, wire.LENGTH.pack(len(data)) + data)


def _send_records(fd: int, records: list[bytes]) -> None:
    parts = [wire.LENGTH.pack(len(records))]
    for record in records:
        parts += [wire.LENGTH.pack(len(record)), record]
    _write_all(fd, b"".join(parts))


def _send_fault(fd: int, exc: Exception) -> None:
    """The worker itself failed (a fork refused, a full disk): no verdict, the supervisor retries."""
    data = f"{type(exc).__name__}: {exc}".encode()
    _write_all(fd, wire.LENGTH.pack(wire.FAULT) + wire.LENGTH.pack(len(data)) + data)


def main() -> None:
    config = json.loads(sys.argv[1])
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    state, layers, failure, filter_failure = _setup(config)
    gc.freeze()  # forks then never touch (copy) the worker's own objects when collecting
    _send(state["resp"], {"ready": True, "layers": layers, "failure": failure, "filter": filter_failure})
    while True:
        header = _read_exact(state["req"], wire.HEADER.size)
        if not header:
            return
        limits, count = wire.unpack_request(header)
        try:
            records = _execute(state, limits, count)
        except Exception as exc:
            _send_fault(state["resp"], exc)
            continue
        _send_records(state["resp"], records)


if __name__ == "__main__":
    main()
