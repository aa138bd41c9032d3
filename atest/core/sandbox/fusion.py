"""The `sandboxfusion` provider: atest's programs on any SandboxFusion-compatible server.

Two ways to talk to the server, picked once when the provider starts:

* **`/run_code`** (any SandboxFusion server): each request's `code` is a driver
  (`fresh.run_batch`, with `harness.py`, `wire.py` and `seccomp.py` inside it) that runs up to
  `max_batch` inputs of one program, each in a fresh `python -I -S harness.py` exactly as the
  `subprocess` provider does, and prints their records on one line. Limits, the functional
  call convention, the stdin rule and the verdicts are the harness's, so they match every
  other provider. What the server itself adds (its own isolation, its own timeout on the
  whole request) wraps the driver.
* **atest's batch endpoint** (`atest sandbox serve`, found at `/atest/v1/info`): the jobs
  themselves, many per request, run on the server's executor.

A request the server did not answer (nothing listening, HTTP 5xx, a `SandboxError`, a
timeout, back-pressure beyond its patience) is a `Fault` for its jobs, never a verdict: the
executor retries, then fails the command with exit 3. A driver answer that is not exactly
one well-formed records line (a program killed its driver or wrote into its output) sends
each of those inputs alone in a request of its own, so only an input that breaks its driver
on its own gets a runtime error.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
import urllib.parse
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from atest.core.errors import ExternalError, InputError
from atest.core.sandbox import fresh, wire
from atest.core.sandbox.records import to_execution
from atest.core.sandbox.settings import SandboxSettings
from atest.core.sandbox.types import Execution, Fault, Harness, Job, Limits

log = logging.getLogger("atest.sandbox")

HERE = Path(__file__).parent
# What the remote driver loads by path beside itself: the harness and what the harness loads
# (the record format, the syscall filter) travel inside every /run_code request.
DRIVER_MODULES = ("wire.py", "seccomp.py", "harness.py", "fresh.py")
INFO_PATH = "/atest/v1/info"
BATCH_PATH = "/atest/v1/run"
RUN_CODE_PATH = "/run_code"
TRIES = 2  # HTTP tries of one request before its jobs become faults (the executor retries those)
BACKOFF = 0.5  # seconds before the second try
BUSY_PATIENCE = 120.0  # seconds of 429/503 answers a request waits through before it is a fault
REQUEST_MARGIN = 30.0  # seconds an HTTP answer may take beyond the work it carries
NATIVE_CHUNK = 256  # jobs per request to atest's batch endpoint
DRIVER_MEMORY_MB = 256  # the driver's own interpreter, on top of a program's memory limit
DRIVER_START = 5.0  # seconds the driver itself may take, on top of its inputs
# A /run_code request's run_timeout stays under this (servers cap it: atest's at 60 s), so a
# request carries fewer inputs of a program with long limits.
DRIVER_SECONDS = 55.0


class ServerFault(Exception):
    """The server did not answer a request with a result (a fault, not a verdict)."""


class FusionProvider:
    """Runs jobs on the SandboxFusion-compatible server at `settings.url`.

    `workers` requests are in flight at once (default 8). `protocol` is `auto` (atest's batch
    endpoint when the server has one, else `/run_code`) or `run_code` (always the driver: how
    any other SandboxFusion server is used, and how the tests exercise that path on atest's own).
    """

    name = "sandboxfusion"

    def __init__(self, settings: SandboxSettings, workers: int | None = None, protocol: str = "auto"):
        if not settings.url:
            raise InputError("the sandboxfusion executor needs --sandbox-url")
        self.base = _base_url(settings.url)
        self.token = settings.token
        self.max_batch = settings.max_batch
        self.workers = workers or 8
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="atest-sandboxfusion")
        info = self._info()
        self.native = protocol == "auto" and info is not None
        if info is not None:
            self.layers = [str(layer) for layer in info.get("layers", [])]
        else:
            self.layers = ["the SandboxFusion server's own"]
        if settings.isolation == "namespace" and not {"network namespace", "mount namespace"} <= set(
            self.layers
        ):
            raise InputError(
                f"--sandbox namespace: the server at {self.base} does not report namespace isolation",
                "drop --sandbox namespace, or serve the sandbox with `atest sandbox serve` on a kernel that allows it",
            )
        self._modules = {name: (HERE / name).read_text(encoding="utf-8") for name in DRIVER_MODULES}

    # -- the provider contract ------------------------------------------------------------

    def run(self, jobs: Sequence[Job]) -> list[Execution | Fault]:
        if not jobs:
            return []
        answers: list[Execution | Fault | None] = [None] * len(jobs)
        tasks = self._native_tasks(jobs) if self.native else self._driver_tasks(jobs)
        for indices, results in self._pool.map(lambda task: (task[0], task[1]()), tasks):
            for index, result in zip(indices, results, strict=True):
                answers[index] = result
        return answers  # type: ignore[return-value]

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    # -- atest's batch endpoint -----------------------------------------------------------

    def _native_tasks(self, jobs: Sequence[Job]) -> list[tuple[list[int], Any]]:
        tasks = []
        for start in range(0, len(jobs), NATIVE_CHUNK):
            indices = list(range(start, min(start + NATIVE_CHUNK, len(jobs))))
            chunk = [jobs[i] for i in indices]
            tasks.append((indices, lambda chunk=chunk: self._run_native(chunk)))
        return tasks

    def _run_native(self, jobs: list[Job]) -> list[Execution | Fault]:
        body = {"jobs": [job_to_json(job) for job in jobs]}
        timeout = REQUEST_MARGIN + sum(job.limits.wall_limit + 1 for job in jobs)
        try:
            answer = self._post(BATCH_PATH, body, timeout)
            results = answer["results"]
            if len(results) != len(jobs):
                raise ServerFault(f"{len(results)} results for {len(jobs)} jobs")
            return [execution_from_json(result) for result in results]
        except ServerFault as exc:
            return [Fault(f"the sandbox server at {self.base}: {exc}")] * len(jobs)
        except (KeyError, TypeError, ValueError) as exc:
            return [Fault(f"the sandbox server at {self.base} answered a malformed result: {exc}")] * len(
                jobs
            )

    # -- /run_code with the driver --------------------------------------------------------

    def _driver_tasks(self, jobs: Sequence[Job]) -> list[tuple[list[int], Any]]:
        groups: dict[tuple[str, Limits], list[int]] = {}
        for index, job in enumerate(jobs):
            groups.setdefault((job.program.key, job.limits), []).append(index)
        tasks = []
        for indices in groups.values():
            per_input = _driver_seconds(jobs[indices[0]].limits)
            size = max(1, min(self.max_batch, int((DRIVER_SECONDS - DRIVER_START) // per_input)))
            for start in range(0, len(indices), size):
                part = indices[start : start + size]
                chunk = [jobs[i] for i in part]
                tasks.append((part, lambda chunk=chunk: self._run_driver(chunk)))
        return tasks

    def _run_driver(self, jobs: list[Job]) -> list[Execution | Fault]:
        try:
            records = self._driver_records(jobs)
            if records is None and len(jobs) > 1:  # something broke the driver: each input alone
                return [answer for job in jobs for answer in self._run_driver([job])]
            if records is None:
                records = [wire.MALFORMED._replace(stderr_tail="sandbox: the program ended its driver")]
        except ServerFault as exc:
            return [Fault(f"the SandboxFusion server at {self.base}: {exc}")] * len(jobs)
        return [to_execution(job, record) for job, record in zip(jobs, records, strict=True)]

    def _driver_records(self, jobs: list[Job]) -> list[wire.Record] | None:
        """The records the driver printed, or None when its answer is not exactly one records
        line for these inputs (a program killed the driver or wrote into its output)."""
        first = jobs[0]
        batch = {
            "source": first.program.source,
            "kind": first.program.kind,
            "fn_name": first.program.fn_name,
            **first.program.harness._asdict(),
            "limits": first.limits._asdict(),
            "inputs": [job.input for job in jobs],
        }
        run_timeout = sum(_driver_seconds(job.limits) for job in jobs) + DRIVER_START
        request = {
            "code": driver_code(self._modules, batch),
            "language": "python",
            "stdin": "",
            "run_timeout": run_timeout,
            "compile_timeout": 10,
            "memory_limit_MB": first.limits.memory_mb + DRIVER_MEMORY_MB,
            "files": {},
        }
        answer = self._post(RUN_CODE_PATH, request, run_timeout + REQUEST_MARGIN)
        status = answer.get("status")
        if status == "SandboxError" or status not in ("Success", "Failed"):
            raise ServerFault(f"SandboxError: {answer.get('message') or status!r}")
        run = answer.get("run_result") or {}
        if status != "Success" or run.get("status") != "Finished" or run.get("return_code") != 0:
            return None
        lines = (run.get("stdout") or "").split("\n")
        if len(lines) != 2 or lines[1] != "" or not lines[0].startswith(fresh.MARK):
            return None
        try:
            encoded = json.loads(lines[0][len(fresh.MARK) :])
        except ValueError:
            return None
        if (
            not isinstance(encoded, list)
            or len(encoded) != len(jobs)
            or not all(isinstance(e, str) for e in encoded)
        ):
            return None
        return [wire.decode(text.encode("utf-8", "surrogatepass")) for text in encoded]

    # -- HTTP ------------------------------------------------------------------------------

    def _info(self) -> dict[str, Any] | None:
        """The server's atest info, None for another SandboxFusion server; fails fast when
        nothing answers or the token is refused."""
        try:
            status, body = self._request("GET", INFO_PATH, None, 10.0)
        except OSError as exc:
            raise ExternalError(
                f"nothing answers at --sandbox-url {self.base}: {exc}",
                "start the server (`atest sandbox serve`) or fix the URL",
            ) from None
        if status == 401:
            raise InputError(
                f"the sandbox server at {self.base} refused the token",
                "set $ATEST_SANDBOX_TOKEN to the token the server was started with",
            )
        if status >= 500:
            raise ExternalError(
                f"the sandbox server at --sandbox-url {self.base} answers HTTP {status}",
                "check the server (its log, its /health) and rerun",
            )
        if status == 200:
            try:
                info = json.loads(body)
            except ValueError:
                info = None
            if isinstance(info, dict) and "atest" in info:
                return info
        return None

    def _post(self, path: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        """POST `body`, retrying what is not a verdict: a refused connection, a timeout and a
        5xx once after `BACKOFF`, back-pressure (429/503) for up to `BUSY_PATIENCE` seconds."""
        data = json.dumps(body).encode()
        busy_until = time.monotonic() + BUSY_PATIENCE
        tries = 0
        while True:
            tries += 1
            try:
                status, text = self._request("POST", path, data, timeout)
            except OSError as exc:
                if tries >= TRIES:
                    raise ServerFault(f"{type(exc).__name__}: {exc}") from None
                time.sleep(BACKOFF)
                continue
            if status == 200:
                try:
                    answer = json.loads(text)
                except ValueError:
                    raise ServerFault("the answer is not JSON") from None
                if not isinstance(answer, dict):
                    raise ServerFault("the answer is not a JSON object")
                return answer
            line = text.decode("utf-8", "replace").strip().splitlines()[:1]
            if status in (429, 503) and time.monotonic() < busy_until:
                time.sleep(0.2 + 0.3 * min(tries, 5))
                continue
            if status == 401:
                raise ServerFault("HTTP 401: the server refused the token ($ATEST_SANDBOX_TOKEN)")
            if status >= 500 and tries < TRIES:
                time.sleep(BACKOFF)
                continue
            raise ServerFault(f"HTTP {status}: {line[0] if line else ''}")

    def _request(self, method: str, path: str, data: bytes | None, timeout: float) -> tuple[int, bytes]:
        """One HTTP exchange on this thread's kept-alive connection (reopened when it broke)."""
        url = urllib.parse.urlsplit(self.base)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        for attempt in (1, 2):
            connection = getattr(self._local, "connection", None)
            if connection is None:
                kind = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
                connection = kind(url.hostname or "", url.port, timeout=timeout)
                self._local.connection = connection
            connection.timeout = timeout
            if connection.sock is not None:
                connection.sock.settimeout(timeout)
            try:
                connection.request(method, url.path.rstrip("/") + path, body=data, headers=headers)
                response = connection.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                connection.close()
                self._local.connection = None
                if attempt == 2:
                    raise
            except OSError:
                connection.close()
                self._local.connection = None
                raise
        raise AssertionError("unreachable")


def _driver_seconds(limits: Limits) -> float:
    """The most one input can take in the driver: its wall limit, the interpreter's start, slack."""
    return limits.wall_limit + fresh.START_ALLOWANCE + 1


def _base_url(url: str) -> str:
    """The server's base URL: verl and the `sandbox_fusion` client are given `.../run_code`."""
    base = url.rstrip("/")
    return base.removesuffix(RUN_CODE_PATH)


def driver_code(modules: dict[str, str], batch: dict[str, Any]) -> str:
    """The `code` of one `/run_code` request: writes the standard-library modules (DRIVER_MODULES) to a
    private directory and runs `fresh.run_batch` on `batch`."""
    payload = json.dumps({"modules": modules, "batch": batch})
    return (
        "import json, os, shutil, tempfile\n"
        f"spec = json.loads({payload!r})\n"
        "root = tempfile.mkdtemp(prefix='atest-driver-')\n"
        "for name, text in spec['modules'].items():\n"
        "    with open(os.path.join(root, name), 'w', encoding='utf-8') as f:\n"
        "        f.write(text)\n"
        "path = os.path.join(root, 'fresh.py')\n"
        "driver = {'__name__': 'atest_fresh', '__file__': path, '__package__': None}\n"
        "with open(path, encoding='utf-8') as f:\n"
        "    exec(compile(f.read(), path, 'exec'), driver)\n"
        "try:\n"
        "    driver['run_batch'](spec['batch'])\n"
        "finally:\n"
        "    shutil.rmtree(root, ignore_errors=True)\n"
    )


def job_to_json(job: Job) -> dict[str, Any]:
    """A job as atest's batch endpoint takes it."""
    program = job.program
    harness = {} if program.harness == Harness() else {"harness": program.harness._asdict()}
    return {
        "source": program.source,
        "kind": program.kind,
        "fn_name": program.fn_name,
        **harness,
        "input": job.input,
        "limits": job.limits._asdict(),
    }


def execution_from_json(value: dict[str, Any]) -> Execution:
    """One result of atest's batch endpoint (the fields of `Execution`, checked)."""
    status = wire.Status(value["status"])
    exit_code = value["exit_code"]
    if exit_code is not None and not isinstance(exit_code, int):
        raise TypeError("exit_code is not an integer")
    return Execution(
        status=status,
        output=value["output"],
        stderr_tail=str(value["stderr_tail"]),
        exit_code=exit_code,
        cpu_time=float(value["cpu_time"]),
        wall_time=float(value["wall_time"]),
        peak_memory_mb=float(value["peak_memory_mb"]),
    )
