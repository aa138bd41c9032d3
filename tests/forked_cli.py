"""`python -m atest ARGS` as a fork of an interpreter that has already imported the ML stack.

Why: most of the suite's CPU went to importing torch, transformers, PEFT, TRL and datasets again
in every `atest` process a test starts (about 5 of a tiny-model `atest train`'s 11 CPU-seconds,
over a hundred such processes per suite run; issue 28). Each xdist worker keeps one server
process that imports them once and forks a child per command. The child is still a process of
its own, as a user's command is: its own pid and process group, exit code, stdout and stderr,
working directory and environment; it runs `atest/__main__.py` as `__main__` (what `python -m
atest` runs), then the interpreter's shutdown steps (non-daemon threads, atexit, flushes).

What a fork cannot reproduce falls back to a real `python -m atest` (`tests/atest_cli.py`):
- an environment that differs from the server's in anything but `ATEST_*`, `OPENAI_*`, `VLLM_*`
  and pytest's `PYTEST_CURRENT_TEST` (read when a command runs, never at import; a library may
  read the others at import: PYTHONPATH, HF_*, OMP_*, TMPDIR, PYTHONPROFILEIMPORTTIME ...);
- a second command while the server runs one (a test that overlaps two commands);
- `ATEST_TEST_FORK=0` in the suite's environment (every command then runs the real way), or a
  server that could not start or printed anything while importing (a child would miss those
  lines).
Tests that assert what a command imports run it the real way (their environment differs).
One difference remains: a child's environment is the caller's, so what a library writes into
`os.environ` while it is imported is not in it. Of the preloaded libraries only TRL does so
(`VLLM_LOGGING_LEVEL=ERROR` when unset): a forked command that imports TRL and then starts vLLM
logs vLLM at vLLM's default level, where a fresh process would log errors only.

Run as a script, it is the server: one request per line on stdin (argv, cwd, env, the files
for the child's stdout and stderr), answered on stdout by the child's pid, then its exit code
as `subprocess` reports it (negative: killed by that signal).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import warnings
from pathlib import Path

NOT_IMPORTED = {"atest.__main__", "atest.core.sandbox.zygote"}  # a command itself; the sandbox's script
# Read when a command runs, never at import: atest's own and the OpenAI client's settings, vLLM's
# (the server does not import vLLM), and the name pytest gives each test's phase (no command reads it)
LAZY_PREFIXES = ("ATEST_", "OPENAI_", "VLLM_", "PYTEST_CURRENT_TEST")
READY = "ready"
START_TIMEOUT_S = 120


# ----------------------------------------------------------------------------- server (a script)


def _child(request: dict) -> None:
    """Become `python -m atest ARGV` in the requested cwd and environment; never returns."""
    import atexit
    import runpy
    import traceback

    code, interrupted = 1, False
    try:
        os.setsid()  # its own process group, as the client kills a command that overruns
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        for fd, path, flags in (
            (0, os.devnull, os.O_RDONLY),
            (1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
            (2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        ):
            opened = os.open(path, flags, 0o600)
            os.dup2(opened, fd)
            os.close(opened)
        # fresh text streams over the new descriptors, buffered as a non-terminal process's are
        sys.stdin = sys.__stdin__ = open(0, closefd=False)  # noqa: SIM115
        sys.stdout = sys.__stdout__ = open(1, "w", closefd=False)  # noqa: SIM115
        sys.stderr = sys.__stderr__ = open(2, "w", buffering=1, errors="backslashreplace", closefd=False)  # noqa: SIM115
        sys.path[0] = os.getcwd()  # `python -m` puts the working directory first
        sys.argv = ["-m", *request["argv"]]
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            runpy.run_module("atest", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            if exc.code is None:
                code = 0
            elif isinstance(exc.code, int):
                code = exc.code
            else:
                print(exc.code, file=sys.stderr)
                code = 1
        except BaseException as exc:
            traceback.print_exc()
            interrupted = isinstance(exc, KeyboardInterrupt)
            code = 1
        threading._shutdown()  # type: ignore[attr-defined] # the interpreter's own shutdown order
        atexit._run_exitfuncs()
        if interrupted:  # the interpreter ends on an uncaught Ctrl-C by dying of SIGINT
            sys.stdout.flush()
            sys.stderr.flush()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code & 0xFF)


def _preload() -> None:
    """Import what the commands import: every atest module, and the library classes atest
    imports inside its functions (libraries load their submodules lazily, on first use). TRL's
    GRPOTrainer comes through atest's own import, which leaves vLLM out as a run without it does;
    a child that wants vLLM gets it back the same way a second run in one process does."""
    import importlib
    import pkgutil

    import atest

    for info in pkgutil.walk_packages(atest.__path__, "atest."):
        if info.name not in NOT_IMPORTED:
            importlib.import_module(info.name)
    from atest.core.training.trainer.trl_import import grpo_trainer_class

    grpo_trainer_class(use_vllm=False)
    from openai import OpenAI
    from peft import LoraConfig, PeftModel, get_peft_model  # noqa: F401
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: F401
    from transformers.models.llama import modeling_llama  # noqa: F401
    from trl import GRPOConfig, SFTConfig, SFTTrainer  # noqa: F401

    OpenAI(api_key="unused", base_url="http://127.0.0.1:9/v1").chat.completions  # noqa: B018 - loads its modules


def _serve() -> None:
    """Import the stack once, say ready, then fork one child per request until stdin closes."""
    protocol_in = os.fdopen(os.dup(0), "r")
    protocol_out = os.fdopen(os.dup(1), "w", buffering=1)
    # Whatever importing prints would be missing from every child's output: capture it, and
    # refuse to serve if there was any (the client then runs commands the real way).
    with tempfile.TemporaryFile() as printed:
        saved = os.dup(2)
        os.dup2(printed.fileno(), 2)
        try:
            _preload()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        printed.seek(0)
        text = printed.read().decode(errors="replace")
    if text.strip():
        protocol_out.write(json.dumps({"refused": f"importing printed: {text.strip()[:500]}"}) + "\n")
        return
    protocol_out.write(READY + "\n")
    for line in protocol_in:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            protocol_in.close()
            protocol_out.close()
            _child(request)
        protocol_out.write(json.dumps({"pid": pid}) + "\n")
        _, status = os.waitpid(pid, 0)
        protocol_out.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\n")


# ----------------------------------------------------------------------------- client (the tests)


class ForkServer:
    """One server per test process, started at its first command and stopped with the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._env: dict[str, str] = {}
        self._broken = os.environ.get("ATEST_TEST_FORK", "1") == "0"

    def _start(self) -> bool:
        self._env = dict(os.environ)
        self._proc = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            env=self._env,
            start_new_session=True,  # a Ctrl-C in the terminal reaches pytest, not the server
        )
        answer = self._read(START_TIMEOUT_S)
        if answer != READY:
            self._give_up(f"the fork server did not start ({answer!r}): commands run the real way")
            return False
        return True

    def _give_up(self, why: str) -> None:
        warnings.warn(why, stacklevel=3)
        self._broken = True
        self.close()

    def _read(self, timeout: float | None) -> str | None:
        assert self._proc is not None and self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], timeout)
        if not ready:
            return None
        line = self._proc.stdout.readline()
        return line.strip() or None

    def forkable(self, env: dict[str, str]) -> bool:
        """A fork sees the server's imports: only variables read after import may differ from the
        environment the server started with (or will start with: this process's)."""
        server = self._env if self._proc is not None else dict(os.environ)
        differ = {k for k in env.keys() | server.keys() if env.get(k) != server.get(k)}
        return all(k.startswith(LAZY_PREFIXES) for k in differ)

    def run(
        self, args: tuple[str, ...], timeout: float, env: dict[str, str]
    ) -> subprocess.CompletedProcess | None:
        """The command's result, or None where it must run the real way."""
        if self._broken or not self._lock.acquire(blocking=False):
            return None
        try:
            if not self.forkable(env) or (self._proc is None and not self._start()):
                return None
            return self._run(args, timeout, env)
        finally:
            self._lock.release()

    def _run(self, args: tuple[str, ...], timeout: float, env: dict[str, str]) -> subprocess.CompletedProcess:
        assert self._proc is not None and self._proc.stdin is not None
        command = [sys.executable, "-m", "atest", *args]
        with tempfile.TemporaryDirectory(prefix="forked-cli-") as tmp:
            out, err = Path(tmp, "stdout"), Path(tmp, "stderr")
            request = {
                "argv": list(args),
                "cwd": os.getcwd(),
                "env": env,
                "stdout": str(out),
                "stderr": str(err),
            }
            self._proc.stdin.write(json.dumps(request) + "\n")
            started = self._read(START_TIMEOUT_S)
            if started is None or "pid" not in started:
                self._give_up(f"the fork server stopped ({started!r})")
                raise RuntimeError(f"the fork server stopped before running {command}")
            pid = json.loads(started)["pid"]
            finished = self._read(timeout)
            if finished is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                self._read(None)
                raise subprocess.TimeoutExpired(command, timeout, out.read_text(), err.read_text())
            returncode = json.loads(finished)["returncode"]
            return subprocess.CompletedProcess(command, returncode, out.read_text(), err.read_text())

    def close(self) -> None:
        if self._proc is not None:
            if self._proc.stdin is not None:
                self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None


SERVER = ForkServer()


if __name__ == "__main__":
    _serve()
