"""The supervisor side of the fork server: worker processes, dispatch, restarts.

Each worker is a separate small interpreter (zygote.py) started from a clean environment,
so no secret of the caller's process reaches it and its forks carry no trainer memory.
Jobs go to workers from one thread per worker; the payload is written to the worker's
file in a private job directory and only the forked child reads it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import select
import shutil
import site
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from atest.core.errors import ExternalError
from atest.core.sandbox import harness, wire
from atest.core.sandbox.records import to_execution
from atest.core.sandbox.types import Execution, Fault, Job, Limits, Program, Status

log = logging.getLogger("atest.sandbox")

ZYGOTE = Path(__file__).with_name("zygote.py")
CANARY = Job(Program("print(1)", "stdio"), "", Limits(cpu_seconds=1.0))
UID_BASE = 100_000
TMPFS_MB = 256
START_TIMEOUT = 60.0
RESPONSE_GRACE = 10.0
FORK_ALLOWANCE = 0.5  # seconds per input on top of its wall limit, before a worker counts as hung
MAX_BATCH = 64  # inputs of one program per forked child, at most
WORKER_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}


def _system_binds() -> list[str]:
    """What a program may see, read-only: system libraries and this Python's own tree."""
    candidates = ["/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin", "/etc"]
    for prefix in (sys.base_prefix, sys.base_exec_prefix, sys.prefix, sys.exec_prefix):
        candidates.append(prefix)
        candidates.append(os.path.realpath(prefix))
    candidates.append(os.path.dirname(os.path.realpath(sys.executable)))
    chosen: list[str] = []
    for path in sorted({os.path.normpath(p) for p in candidates if os.path.lexists(p)}, key=len):
        if not any(path == c or path.startswith(c.rstrip("/") + "/") for c in chosen):
            chosen.append(path)
    return chosen


def _job_root() -> str:
    shm = "/dev/shm"
    base = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None
    return tempfile.mkdtemp(prefix="atest-sandbox-", dir=base)


class WorkerFailure(RuntimeError):
    """The worker process died or stopped answering (never a verdict on the program)."""


class WorkerFault(WorkerFailure):
    """The worker's own code raised (a fork refused, a limit it cannot set) and said so: a
    fault of the sandbox, never of the program, even when it recurs for one input."""


class Worker:
    """One zygote process and the pipes to it."""

    def __init__(self, index: int, isolation: str, job_root: str, job_root_fd: int):
        self.index = index
        self.isolation = isolation
        self.job_root = job_root
        self.job_root_fd = job_root_fd
        self.job_name = f"job-{index}"
        self.layers: list[str] = []
        self.failure: str | None = None
        self.filter_failure: str | None = None  # why programs run without the syscall filter
        self._proc: subprocess.Popen | None = None
        self._start()

    def _start(self) -> None:
        req_r, self._req_w = os.pipe()
        self._resp_r, resp_w = os.pipe()
        fallback = os.path.join(self.job_root, f"worker-{self.index}")
        config = {
            "isolation": self.isolation,
            "binds": _system_binds(),
            "tmpfs_mb": TMPFS_MB,
            "uid_base": UID_BASE,
            "job_dir": self.job_root_fd,
            "job_name": self.job_name,
            "req": req_r,
            "resp": resp_w,
            "fallback_dir": fallback,
            "site_dirs": [p for p in site.getsitepackages() if os.path.isdir(p)],
        }
        self._stderr_path = os.path.join(self.job_root, f"worker-{self.index}.log")
        with open(self._stderr_path, "wb") as stderr:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", str(ZYGOTE), json.dumps(config)],
                env=WORKER_ENV,
                cwd="/",
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                pass_fds=(req_r, resp_w, self.job_root_fd),
                start_new_session=True,
            )
        os.close(req_r)
        os.close(resp_w)
        try:
            ready = self._receive(START_TIMEOUT)
        except WorkerFailure as exc:
            self.stop()
            raise ExternalError(
                f"the sandbox worker did not start: {exc}",
                "run `atest ... --sandbox none` only for trusted code, or check the log above",
            ) from exc
        self.layers = ready["layers"]
        self.failure = ready["failure"]
        self.filter_failure = ready["filter"]

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _log_tail(self) -> str:
        try:
            return Path(self._stderr_path).read_text(errors="replace")[-500:].strip()
        except OSError:
            return ""

    def _receive(self, timeout: float) -> dict:
        return json.loads(self._read(self._read_length(timeout), timeout))

    def _read_length(self, timeout: float) -> int:
        return wire.LENGTH.unpack(self._read(wire.LENGTH.size, timeout))[0]

    def _read(self, n: int, timeout: float) -> bytes:
        chunks, remaining = [], n
        while remaining:
            ready, _, _ = select.select([self._resp_r], [], [], timeout)
            if not ready:
                raise WorkerFailure(f"worker {self.index} did not answer within {timeout:.0f}s")
            chunk = os.read(self._resp_r, remaining)
            if not chunk:
                raise WorkerFailure(f"worker {self.index} exited: {self._log_tail() or 'no message'}")
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def execute(self, jobs: Sequence[Job]) -> list[wire.Record]:
        """Run one program (and one set of limits) on each job's input, in order."""
        if self._proc is None:
            raise WorkerFailure(f"worker {self.index} is not running")
        program, limits = jobs[0].program, jobs[0].limits
        newline = program.harness.stdin_newline
        payload = {
            "source": program.source,
            "kind": program.kind,
            "fn_name": program.fn_name,
            "prelude": program.harness.prelude,
            "inputs": [
                harness.stdin_text(job.input, newline) if program.kind == "stdio" else job.input
                for job in jobs
            ],
        }
        self._write(self.job_name, json.dumps(payload).encode("utf-8", "surrogatepass"))
        try:
            os.write(self._req_w, wire.pack_request(limits, len(jobs)))
        except BrokenPipeError as exc:
            raise WorkerFailure(f"worker {self.index} is gone") from exc
        timeout = len(jobs) * (limits.wall_limit + FORK_ALLOWANCE) + RESPONSE_GRACE
        count = self._read_length(timeout)
        if count == wire.FAULT:
            message = self._read(self._read_length(timeout), timeout)
            raise WorkerFault(f"worker {self.index} failed: {message.decode(errors='replace')}")
        if count != len(jobs):
            raise WorkerFailure(f"worker {self.index} answered {count} results for {len(jobs)} inputs")
        return [wire.decode(self._read(self._read_length(timeout), timeout)) for _ in jobs]

    def _write(self, name: str, data: bytes) -> None:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600, dir_fd=self.job_root_fd)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)

    def restart(self) -> None:
        self.stop()
        self._start()

    def stop(self) -> None:
        for fd in (getattr(self, "_req_w", None), getattr(self, "_resp_r", None)):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._req_w = self._resp_r = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    os.killpg(self._proc.pid, 9)
                self._proc.wait()
            self._proc = None


def batches(jobs: Sequence[Job], workers: int, max_batch: int) -> list[list[int]]:
    """Split job indices into runs of one program with one set of limits, largest first.

    A batch runs in one forked child (a fresh one after any input that leaves the process
    changed), so grouping saves a fork per input; batches stay small enough that every
    worker gets several.
    """
    groups: dict[tuple, list[int]] = {}
    for i, job in enumerate(jobs):
        groups.setdefault((job.program, job.limits), []).append(i)
    size = max(1, min(max_batch, math.ceil(len(jobs) / (4 * workers))))
    chunks = [members[s : s + size] for members in groups.values() for s in range(0, len(members), size)]
    chunks.sort(key=len, reverse=True)
    return chunks


class WorkerPool:
    """`workers` zygotes; runs a list of jobs across them, one thread per worker."""

    def __init__(self, workers: int, isolation: str, max_batch: int = MAX_BATCH):
        self.max_batch = max_batch
        self.job_root = _job_root()
        self.job_root_fd = os.open(self.job_root, os.O_RDONLY | os.O_DIRECTORY)
        self.workers: list[Worker] = []
        try:
            for i in range(workers):
                self.workers.append(Worker(i, isolation, self.job_root, self.job_root_fd))
        except BaseException:
            self.close()
            raise

    @property
    def layers(self) -> list[str]:
        return self.workers[0].layers if self.workers else []

    @property
    def failure(self) -> str | None:
        return self.workers[0].failure if self.workers else None

    @property
    def filter_failure(self) -> str | None:
        return self.workers[0].filter_failure if self.workers else None

    def run(self, jobs: Sequence[Job]) -> list[Execution | Fault]:
        results: list[Execution | Fault | None] = [None] * len(jobs)
        chunks = batches(jobs, len(self.workers), self.max_batch)
        lock = threading.Lock()
        pending = iter(chunks)
        errors: list[BaseException] = []

        def loop(worker: Worker) -> None:
            try:
                while True:
                    with lock:
                        chunk = next(pending, None)
                    if chunk is None:
                        return
                    batch = [jobs[i] for i in chunk]
                    for i, execution in zip(chunk, self._run_batch(worker, batch), strict=True):
                        results[i] = execution
            except BaseException as exc:
                errors.append(exc)

        if len(chunks) == 1 or len(self.workers) == 1:
            loop(self.workers[0])
        else:
            threads = [
                threading.Thread(target=loop, args=(w,), daemon=True) for w in self.workers[: len(chunks)]
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        if errors:
            raise errors[0]
        return results  # type: ignore[return-value]

    def _run_batch(self, worker: Worker, batch: list[Job]) -> list[Execution | Fault]:
        """Run a batch; a worker failure is retried once, then blamed on the program only if
        a restarted worker runs a trivial program fine and that input fails it on its own."""
        failure = None
        for _attempt in range(2):
            try:
                return self._execute(worker, batch)
            except WorkerFailure as exc:
                failure = exc
                log.warning("sandbox worker %d failed (%s); restarting it", worker.index, exc)
                if not self._restart(worker):
                    return [Fault(f"sandbox worker {worker.index} could not restart after: {exc}")] * len(
                        batch
                    )
        if not self._healthy(worker):
            return [Fault(f"sandbox worker {worker.index} fails even on a trivial program: {failure}")] * len(
                batch
            )
        return [self._alone(worker, job) for job in batch]

    def _execute(self, worker: Worker, batch: list[Job]) -> list[Execution | Fault]:
        records = worker.execute(batch)
        return [to_execution(job, record) for job, record in zip(batch, records, strict=True)]

    def _alone(self, worker: Worker, job: Job) -> Execution | Fault:
        try:
            return self._execute(worker, [job])[0]
        except WorkerFault as exc:
            return Fault(f"sandbox worker {worker.index} failed on its own: {exc}")
        except WorkerFailure as exc:
            if not self._restart(worker):
                return Fault(f"sandbox worker {worker.index} could not restart after: {exc}")
            return Execution(
                Status.RUNTIME_ERROR, None, stderr_tail=f"the program made its sandbox worker fail: {exc}"
            )

    def _healthy(self, worker: Worker) -> bool:
        try:
            result = self._execute(worker, [CANARY])[0]
        except WorkerFailure:
            self._restart(worker)
            return False
        return isinstance(result, Execution) and result.output == "1\n"

    @staticmethod
    def _restart(worker: Worker) -> bool:
        try:
            worker.restart()
        except ExternalError as exc:
            log.warning("sandbox worker %d did not restart: %s", worker.index, exc)
            return False
        return True

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.workers = []
        with contextlib.suppress(OSError):
            os.close(self.job_root_fd)
        shutil.rmtree(self.job_root, ignore_errors=True)
