"""`atest sandbox serve`: the sandbox behind HTTP, speaking SandboxFusion's `/run_code`.

Built on aiohttp's server: one maintained package (aio-libs) that gives an asyncio HTTP/1.1
server with keep-alive, a request-size cap enforced while the body is read
(`client_max_size`) and graceful shutdown, with no ASGI layer to pick and configure; it is
also what the `sandbox-fusion` client itself depends on, so the `sandboxfusion` extra adds
nothing else.

Endpoints:

* `POST /run_code`: SandboxFusion's request (`code`, `language`, `stdin`, `run_timeout`,
  `memory_limit_MB`; `compile_timeout` is accepted and unused for Python) and answer
  (`status` Success / Failed / SandboxError, `run_result` with `status` Finished / Error /
  TimeLimitExceeded, `return_code`, `stdout`, `stderr`, `execution_time`). Python only: another
  language gets SandboxFusion's answer shape, `SandboxError` with a one-line message, as HTTP 400.
* `POST /atest/v1/run`: atest's own batch, `{"jobs": [...]}` as the executor runs them
  (functional calls included), answered `{"results": [...]}` in order.
* `GET /atest/v1/info` (what the server runs and accepts), `GET /health` (liveness),
  `GET /ready` (503 while saturated), `GET /v1/ping` (SandboxFusion's); only these three
  need no token.

Every admitted request's jobs join one queue that a single thread drains into the executor,
so concurrent requests share its batches (the executor is fastest on many jobs at once) and
the executor is only ever used from that thread. At most `max_pending` requests are admitted
at a time: the next one gets 429 with `Retry-After`, never a place in an unbounded queue. A
bad request gets a 4xx status and one line (`{"error": ...}`); an executor that keeps
faulting gets `SandboxError` (`/run_code`) or 503 (batch), never a verdict.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from atest import __version__
from atest.core.errors import AtestError
from atest.core.sandbox.executor import CachedExecutor
from atest.core.sandbox.types import Execution, Harness, Job, Limits, Program, Status

log = logging.getLogger("atest.sandbox.service")

MERGE_JOBS = 4096  # jobs the dispatcher hands the executor in one call, at most


@dataclass(frozen=True)
class ServiceLimits:
    """What one server accepts; anything past these is refused with a 4xx (or 429) and one line."""

    max_pending: int = 64  # requests admitted (queued or running) at once
    max_body_bytes: int = 16 * 1024 * 1024
    max_jobs: int = 4096  # jobs in one batch request
    max_seconds: float = 60.0  # run_timeout of /run_code, cpu and wall seconds of a batch job
    max_memory_mb: int = 4096
    default_memory_mb: int = 1024  # /run_code without memory_limit_MB
    output_bytes: int = 16 * 1024 * 1024  # stdout cap of a /run_code program


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RunCodeRequest(_Request):
    """SandboxFusion's `/run_code` request (fields this server does not use are ignored)."""

    code: str
    language: str
    stdin: str | None = None
    run_timeout: float = Field(10, gt=0)
    compile_timeout: float = Field(10, ge=0)
    memory_limit_MB: int = -1
    files: dict[str, str | None] = Field(default_factory=dict)
    fetch_files: list[str] = Field(default_factory=list)


class LimitsModel(_Request):
    cpu_seconds: float = Field(2.0, gt=0)
    memory_mb: int = Field(1024, ge=16)
    output_bytes: int = Field(4_000_000, ge=0)
    wall_seconds: float | None = Field(None, gt=0)


class HarnessModel(_Request):
    stdin_newline: bool = True
    prelude: Literal["atest", "utrl"] = "atest"


class JobModel(_Request):
    source: str
    kind: Literal["stdio", "functional"]
    fn_name: str | None = None
    harness: HarnessModel = Field(default_factory=HarnessModel)
    input: Any = ""
    limits: LimitsModel = Field(default_factory=LimitsModel)


class BatchRequest(_Request):
    jobs: list[JobModel]


class BadRequest(Exception):
    """A request this server refuses: its one line, and the HTTP status."""

    def __init__(self, line: str, status: int = 400, body: dict[str, Any] | None = None):
        super().__init__(line)
        self.line, self.status, self.body = line, status, body


class Dispatcher:
    """One thread that runs the executor: requests' jobs go in, their results come back on
    the caller's event loop; the pending requests are merged into one executor call."""

    def __init__(self, executor: CachedExecutor):
        self.executor = executor
        self._queue: queue.SimpleQueue[tuple[list[Job], Callable[[Any], None]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="atest-sandbox-dispatch", daemon=True)
        self._thread.start()

    async def run(self, jobs: list[Job]) -> list[Execution]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Execution]] = loop.create_future()

        def settle(outcome: Any) -> None:
            def apply() -> None:
                if future.done():
                    return
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

            loop.call_soon_threadsafe(apply)

        self._queue.put((jobs, settle))
        return await future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            size = len(item[0])
            while size < MERGE_JOBS:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                batch.append(more)
                size += len(more[0])
            jobs = [job for part, _ in batch for job in part]
            try:
                results = self.executor.run(jobs)
            except (
                BaseException
            ) as exc:  # a fault that persisted (ExternalError), or a bug: every caller hears it
                for _, settle in batch:
                    settle(exc)
                continue
            start = 0
            for part, settle in batch:
                settle(results[start : start + len(part)])
                start += len(part)


def build_app(executor: CachedExecutor, limits: ServiceLimits = ServiceLimits(), token: str | None = None):
    """The aiohttp application around `executor` (which the caller closes after the app stops)."""
    from aiohttp import web

    dispatcher = Dispatcher(executor)
    state = {"pending": 0}

    def error(line: str, status: int) -> web.Response:
        return web.json_response({"error": line}, status=status)

    def authorize(request: web.Request) -> None:
        if token is not None:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                raise BadRequest("missing or wrong bearer token (Authorization: Bearer TOKEN)", 401)

    async def read_json(request: web.Request) -> Any:
        authorize(request)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise BadRequest(f"request body over {limits.max_body_bytes} bytes", 413) from None
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise BadRequest("the request body is not JSON") from None

    def parse(model: type[BaseModel], value: Any) -> Any:
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "body"
            raise BadRequest(f"{where}: {first['msg']}", 422) from None

    def guarded(handler):
        """Admission (429 past `max_pending`), the bad-request line, and no crash on anything."""

        async def wrapped(request: web.Request) -> web.StreamResponse:
            if state["pending"] >= limits.max_pending:
                return web.json_response(
                    {"error": f"busy: {limits.max_pending} requests in progress; retry later"},
                    status=429,
                    headers={"Retry-After": "1"},
                )
            state["pending"] += 1
            try:
                return await handler(request)
            except BadRequest as bad:
                if bad.body is not None:
                    return web.json_response(bad.body, status=bad.status)
                return error(bad.line, bad.status)
            except Exception as exc:  # never a crash: a 500 and one line
                log.exception("sandbox service: internal error")
                return error(f"internal error: {type(exc).__name__}: {exc}".splitlines()[0], 500)
            finally:
                state["pending"] -= 1

        return wrapped

    def check_seconds(seconds: float, what: str) -> None:
        if seconds > limits.max_seconds:
            raise BadRequest(f"{what} {seconds:g} s is over this server's {limits.max_seconds:g} s", 422)

    def check_memory(memory_mb: int, what: str) -> None:
        if memory_mb > limits.max_memory_mb:
            raise BadRequest(f"{what} {memory_mb} MB is over this server's {limits.max_memory_mb} MB", 422)

    @guarded
    async def run_code(request: web.Request) -> web.Response:
        spec = parse(RunCodeRequest, await read_json(request))
        if spec.language != "python":
            message = f"language {spec.language!r} is not supported: this server runs python only"
            raise BadRequest(message, 400, fusion_answer("SandboxError", message, None))
        if spec.files or spec.fetch_files:
            raise BadRequest("files and fetch_files are not supported: send the program as code", 422)
        check_seconds(spec.run_timeout, "run_timeout")
        memory = spec.memory_limit_MB if spec.memory_limit_MB > 0 else limits.default_memory_mb
        check_memory(memory, "memory_limit_MB")
        job = Job(
            Program(spec.code, "stdio"),
            spec.stdin or "",
            Limits(spec.run_timeout, memory, limits.output_bytes, spec.run_timeout),
        )
        try:
            (result,) = await dispatcher.run([job])
        except AtestError as exc:
            return web.json_response(fusion_answer("SandboxError", exc.one_line(), None))
        return web.json_response(fusion_result(result))

    @guarded
    async def run_batch(request: web.Request) -> web.Response:
        spec = parse(BatchRequest, await read_json(request))
        if len(spec.jobs) > limits.max_jobs:
            raise BadRequest(
                f"{len(spec.jobs)} jobs in one request; this server takes {limits.max_jobs}", 413
            )
        jobs = []
        for index, item in enumerate(spec.jobs):
            if item.kind == "functional" and not item.fn_name:
                raise BadRequest(f"jobs.{index}.fn_name: a functional job needs fn_name", 422)
            given = item.limits
            job_limits = Limits(given.cpu_seconds, given.memory_mb, given.output_bytes, given.wall_seconds)
            check_seconds(max(job_limits.cpu_seconds, job_limits.wall_limit), f"jobs.{index}.limits")
            check_memory(job_limits.memory_mb, f"jobs.{index}.limits.memory_mb")
            if job_limits.output_bytes > limits.output_bytes:
                raise BadRequest(f"jobs.{index}.limits.output_bytes is over {limits.output_bytes}", 422)
            run_rules = Harness(item.harness.stdin_newline, item.harness.prelude)
            jobs.append(Job(Program(item.source, item.kind, item.fn_name, run_rules), item.input, job_limits))
        try:
            results = await dispatcher.run(jobs)
        except AtestError as exc:
            return error(f"sandbox fault: {exc.one_line()}", 503)
        return web.json_response({"results": [execution_json(r) for r in results]})

    async def info(request: web.Request) -> web.Response:  # not admission-counted: a client starting up
        try:
            authorize(request)
        except BadRequest as bad:
            return error(bad.line, bad.status)
        return web.json_response(
            {
                "atest": __version__,
                "executor": executor.provider.name,
                "layers": executor.layers,
                "languages": ["python"],
                "limits": limits.__dict__,
            }
        )

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def ready(request: web.Request) -> web.Response:
        if state["pending"] >= limits.max_pending:
            return web.json_response({"ready": False, "pending": state["pending"]}, status=503)
        return web.json_response({"ready": True, "pending": state["pending"]})

    async def ping(request: web.Request) -> web.Response:
        return web.Response(text="pong")

    async def on_cleanup(app: web.Application) -> None:
        await asyncio.get_running_loop().run_in_executor(None, dispatcher.close)

    app = web.Application(client_max_size=limits.max_body_bytes)
    app.router.add_post("/run_code", run_code)
    app.router.add_post("/atest/v1/run", run_batch)
    app.router.add_get("/atest/v1/info", info)
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/v1/ping", ping)
    app.on_cleanup.append(on_cleanup)
    return app


def fusion_answer(status: str, message: str, run_result: dict[str, Any] | None) -> dict[str, Any]:
    """SandboxFusion's answer shape."""
    return {
        "status": status,
        "message": message,
        "compile_result": None,
        "run_result": run_result,
        "executor_pod_name": None,
        "files": {},
    }


def fusion_result(result: Execution) -> dict[str, Any]:
    """An execution as SandboxFusion reports a run: Finished (any exit code; a limit other than
    time is a non-zero exit, as a killed or failing process is there) or TimeLimitExceeded.
    stdout is returned for a program that exited 0 (atest keeps no output of a failed run)."""
    ok = result.status is Status.OK
    if result.status is Status.TIME_LIMIT:
        state, code = "TimeLimitExceeded", result.exit_code
    else:
        code = 0 if ok else (result.exit_code if result.exit_code not in (None, 0) else 1)
        state = "Finished"
    run = {
        "status": state,
        "execution_time": result.wall_time,
        "cpu_time": result.cpu_time,
        "return_code": code,
        "stdout": result.output if ok else "",
        "stderr": result.stderr_tail,
    }
    message = "" if ok else result.status.value
    return fusion_answer("Success" if ok else "Failed", message, run)


def execution_json(result: Execution) -> dict[str, Any]:
    return {
        "status": result.status.value,
        "output": result.output,
        "stderr_tail": result.stderr_tail,
        "exit_code": result.exit_code,
        "cpu_time": result.cpu_time,
        "wall_time": result.wall_time,
        "peak_memory_mb": result.peak_memory_mb,
    }


class LocalServer:
    """`atest sandbox serve` in a child process on 127.0.0.1 (a free port), for tests and the
    bench: started by `start`, its URL in `url`, stopped (SIGTERM, then SIGKILL) by `stop`."""

    def __init__(self, *serve_args: str, root_args: tuple[str, ...] = (), env: dict[str, str] | None = None):
        self.argv = [
            sys.executable,
            "-m",
            "atest",
            *root_args,
            "sandbox",
            "serve",
            "--port",
            "0",
            *serve_args,
        ]
        self.env = env
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self, timeout: float = 120.0) -> LocalServer:
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
        )
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        assert self.proc.stderr is not None
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            match = re.search(r"serving on (http://\S+)", line)
            if match:
                self.url = match.group(1)
                threading.Thread(target=self.proc.stderr.read, daemon=True).start()  # keep draining
                return self
        self.stop()
        raise RuntimeError("atest sandbox serve did not start: " + "".join(seen[-5:]))

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
