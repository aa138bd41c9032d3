"""`python -m atest ARGS` as a fork of a server process that has imported the ML stack once.

Why: a CPU pipeline of many short `atest` commands (a `reproduce` or `demo` study, the test
suite) spent seconds of each on importing torch, transformers, PEFT, TRL and datasets again:
about 5 of a tiny-model `atest train`'s 11 CPU-seconds, 4-6 s for every `gen-tests`, `warmup`
or `train` step (issue 28). A `ForkServer` imports them once and forks a child per command.
The child is still a process of its own, as the command a user types: its own pid, exit code,
stdout and stderr, working directory and environment; it runs `atest/__main__.py` as
`__main__` (what `python -m atest` runs), then the interpreter's shutdown steps (non-daemon
threads, atexit, flushes), and each model still loads in a process of its own.

Where it is not the same command, the caller runs the real `python -m atest` instead:
- a library may read an environment variable while it is imported, so a child's environment
  may differ from the server's only where `forkable` allows;
- what a library writes into `os.environ` while it is imported is not in a child's environment
  (the child's is the caller's): of the preloaded libraries only TRL does so
  (`VLLM_LOGGING_LEVEL=ERROR` when unset), so a forked command that imports TRL and then starts
  vLLM logs vLLM at vLLM's default level, where a fresh process logs errors only;
- a server whose imports printed anything refuses to serve (its children would miss the lines);
- on a machine with a GPU device nothing forks (`cpu_only_machine`): a process that forks after
  a CUDA driver was initialised cannot use the GPU in its children, and no preloaded library
  may be trusted never to touch it.

The server is this module run as a script: one JSON request per line on stdin (argv, cwd, env,
the files for the child's stdout and stderr, whether it gets a session of its own), answered
on stdout by the child's pid, then its exit code as `subprocess` reports it (negative: killed
by that signal).
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
from pathlib import Path

NOT_IMPORTED = {"atest.__main__", "atest.core.sandbox.zygote"}  # a command itself; the sandbox's script
READY = "ready"
START_TIMEOUT_S = 180
GPU_DEVICES = ("/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd", "/dev/dxg")  # NVIDIA, AMD ROCm, WSL


def cpu_only_machine() -> bool:
    """No GPU device node: forking after importing torch cannot break a child's GPU."""
    return not any(Path(device).exists() for device in GPU_DEVICES)


# ----------------------------------------------------------------------------- the server's side


def _child(request: dict) -> None:
    """Become `python -m atest ARGV` in the requested cwd and environment; never returns."""
    import atexit
    import runpy
    import traceback

    code, interrupted = 1, False
    try:
        if request["session"]:
            os.setsid()  # a process group of its own, which the client kills past a timeout
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        tempfile.tempdir = None  # computed again from this environment on first use, as when fresh
        streams = [(0, os.devnull, os.O_RDONLY)]
        streams += [
            (fd, request[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            for fd, name in ((1, "stdout"), (2, "stderr"))
        ]
        for fd, path, flags in streams:
            if path is not None:  # None: the server's own, which is the caller's
                opened = os.open(path, flags, 0o600)
                os.dup2(opened, fd)
                os.close(opened)
        # fresh text streams over the descriptors, buffered as a non-terminal process's are
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
        except BaseException as exc:  # what the interpreter does with an uncaught one
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
    except BaseException:  # set-up failed: say so on the child's stderr
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
    a child that wants vLLM gets it back the way a second run in one process does."""
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


def serve() -> None:
    """Import the stack once, say ready, then fork one child per request until stdin closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the caller's and the child's to handle
    protocol_in = os.fdopen(os.dup(0), "r")
    protocol_out = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)  # a child that keeps the server's stdout must not write into the protocol
    os.close(devnull)
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
        text = printed.read().decode(errors="replace").strip()
    if text:
        protocol_out.write(json.dumps({"refused": f"importing printed: {text[:500]}"}) + "\n")
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


# ----------------------------------------------------------------------------- the caller's side


class ForkRefused(RuntimeError):
    """The server could not start or run the command: run it the real way."""


class ForkLost(ForkRefused):
    """The server died while its child ran the command: how far the command got is unknown."""


class ForkServer:
    """A server started at the first command and stopped with `close` (or when its caller exits:
    its stdin closes). One command at a time: a caller that may overlap commands holds a lock.

    `sessions`: each child gets a process group of its own (the test suite kills a command past
    its timeout); without, children stay in the caller's group, so a Ctrl-C on the terminal
    reaches the running step as it reaches a `subprocess.run` child. `quiet`: the server's and
    the children's unredirected stderr go nowhere instead of the caller's."""

    def __init__(self, *, sessions: bool, quiet: bool) -> None:
        self.env: dict[str, str] = {}
        self._sessions = sessions
        self._quiet = quiet
        self._proc: subprocess.Popen | None = None

    @property
    def started(self) -> bool:
        return self._proc is not None

    def start(self) -> None:
        self.env = dict(os.environ)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "atest.core.forkrun"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL if self._quiet else None,
            text=True,
            bufsize=1,
            env=self.env,
            start_new_session=self._sessions,
        )
        try:
            answer = self._read(START_TIMEOUT_S)
        except ForkRefused:
            answer = "no answer"
        if answer != READY:
            self.close()
            raise ForkRefused(f"the fork server did not start ({answer})")

    def _read(self, timeout: float | None) -> str | None:
        """The server's next line; None past the timeout; ForkRefused if the server has gone."""
        assert self._proc is not None and self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], timeout)
        if not ready:
            return None
        line = self._proc.stdout.readline().strip()
        if not line:
            raise ForkRefused("the fork server stopped")
        return line

    def run(
        self,
        argv: list[str],
        *,
        env: dict[str, str],
        stdout: Path,
        stderr: Path | None,
        timeout: float | None = None,
    ) -> int:
        """Run `python -m atest ARGV` as a fork in this process's working directory; its exit code.
        stdout (and stderr unless None: the caller's) go to the files named. Past `timeout` the
        command is killed and `subprocess.TimeoutExpired` raised; on an interrupt (Ctrl-C) it is
        given a moment to end, then killed, and the interrupt goes on, as `subprocess.run` does."""
        if self._proc is None:
            self.start()
        assert self._proc is not None and self._proc.stdin is not None
        request = {
            "argv": argv, "cwd": os.getcwd(), "env": env, "session": self._sessions,
            "stdout": str(stdout), "stderr": None if stderr is None else str(stderr),
        }  # fmt: skip
        try:
            self._proc.stdin.write(json.dumps(request) + "\n")
            started = self._read(START_TIMEOUT_S)
        except (OSError, ForkRefused) as exc:
            self.close()
            raise ForkRefused(f"the fork server stopped before the command started ({exc})") from exc
        if started is None or "pid" not in started:
            self.close()
            raise ForkRefused(f"the fork server did not start the command ({started})")
        pid = json.loads(started)["pid"]
        try:
            finished = self._read(timeout)
        except ForkRefused as exc:  # the server died under its child: end the child too, say so
            self._kill(pid)
            self.close()
            raise ForkLost(f"the fork server died while running `atest {' '.join(argv)}`") from exc
        except BaseException:  # an interrupt: the child had the same Ctrl-C, unless in a session
            finished = self._read(0.25)
            if finished is None:
                self._kill(pid)
                self._read(None)
            raise
        if finished is None:
            self._kill(pid)
            self._read(None)
            raise subprocess.TimeoutExpired([sys.executable, "-m", "atest", *argv], timeout)
        return json.loads(finished)["returncode"]

    def _kill(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            if self._sessions:
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    serve()
