"""The processes of a `torchrun` / `accelerate launch` run: who is main, who shares a node, and the
few collectives the loops need between GRPO phases.

A plain `atest train` is a launch of one process, and every helper here then does the
one-process thing without touching `torch.distributed`. Under a launcher the process group
is the one the trainer uses (accelerate's `PartialState`, NCCL on GPUs, gloo on CPUs), set
up before the first collective.

Errors: every process runs the same checks at plan time and gets the same error; the main
process prints it and the others exit with its code silently (`ShownByMain`). A step that
only the main process runs (opening the run folder) hands its error to the others the same
way, so nobody waits at a barrier for a process that has already stopped. Anything else
that fails on one process stops that process; the launcher then stops the others.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from atest.core.errors import AtestError

T = TypeVar("T")
R = TypeVar("R")


class ShownByMain(AtestError):
    """The error every process hit; the main process prints it, this one only exits with its code."""

    def __init__(self, exit_code: int):
        super().__init__("the main process reports this error")
        self.exit_code = exit_code


# How long a process that leaves an error to the main one waits for it to be printed.
MAIN_REPORT_GRACE_S = 10.0


def await_main_report() -> None:
    """Before a non-main process exits on `ShownByMain`, give the main process time to print.

    A launcher stops every worker as soon as one fails. A non-main process that exits at once
    (it only has to raise) could have torchrun SIGTERM the main one before the main one has
    printed the error (seen in CI: the error line missing). So the non-main process waits: the
    main process prints and exits, the launcher then stops this one. Bounded, so that a launcher
    that does not stop the others still ends; nothing to wait for outside a launch."""
    if world() == 1:
        return
    import time

    time.sleep(MAIN_REPORT_GRACE_S)


# prctl(2): the signal this process gets when the thread that forked it exits.
PR_SET_PDEATHSIG = 1


def die_with_launcher() -> None:
    """A process started by torchrun (or `accelerate launch`, which runs it) dies with its launcher.

    torch's elastic agent starts each worker in a session of its own, so a launcher killed by
    SIGKILL (`kill -9`, the OOM killer, a CI job's timeout) cannot stop its workers, and they go
    on training into the run folder that the user then resumes into: two runs writing the same
    checkpoints (seen in bench/chaos.py). The kernel's parent-death signal closes that gap: the
    worker gets SIGKILL when the launcher dies, as if it had been in the killed group. It is
    armed first thing (`atest/__main__.py`, before the imports), so that a launcher killed
    while its workers start leaves none either. Linux only; elsewhere, and outside a launcher,
    nothing changes."""
    if "TORCHELASTIC_RUN_ID" not in os.environ or not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    parent = os.getppid()
    if parent == 1 and not _launcher_is_init():  # the launcher died while this process started
        os.kill(os.getpid(), signal.SIGKILL)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
        return  # not armed (a seccomp profile that denies prctl): the old behaviour
    if os.getppid() != parent:  # the launcher died before the signal was armed
        os.kill(os.getpid(), signal.SIGKILL)


def _launcher_is_init() -> bool:
    """Whether PID 1 is the launcher itself (a container whose entry point is torchrun)."""
    try:
        cmdline = Path("/proc/1/cmdline").read_bytes()
    except OSError:
        return True  # cannot tell: never kill on a guess
    return b"torch" in cmdline or b"accelerate" in cmdline


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world() -> int:
    """Processes in this launch; 1 for a plain run."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def local_world() -> int:
    """Processes of this launch on this node (they share its CPUs)."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", "1"))


def is_main() -> bool:
    return rank() == 0


def node_share(total: int) -> int:
    """This process's part of a per-node budget (e.g. sandbox workers): never below one."""
    return max(1, total // local_world())


def init(use_cpu: bool) -> None:
    """Join the launch's process group (gloo for a CPU run) before the first collective."""
    if world() > 1:
        from accelerate import PartialState

        PartialState(cpu=use_cpu)


def finish() -> None:
    """Leave the launch's process group once the work is done, before the interpreter exits.

    A gloo group still open at exit is torn down with the interpreter, and its threads can then
    abort the process ("terminate called without an active exception", SIGABRT), which torchrun
    reports as a failed run after a run that succeeded: 3 of 8 two-process runs of
    tests/multiproc_shard.py on a loaded 2-core machine. The barrier first, so that no process
    leaves while another still waits in a collective."""
    if world() > 1:
        from accelerate import PartialState

        state = PartialState()
        state.wait_for_everyone()
        state.destroy_process_group()


def barrier() -> None:
    if world() > 1:
        from accelerate import PartialState

        PartialState().wait_for_everyone()


def all_gather(value: T) -> list[T]:
    """Every process's `value`, in rank order, on every process."""
    if world() == 1:
        return [value]
    from accelerate.utils import gather_object

    return gather_object([value])


def broadcast(value: T) -> T:
    """The main process's `value` on every process (what the others pass is ignored)."""
    if world() == 1:
        return value
    from accelerate.utils import broadcast_object_list

    return broadcast_object_list([value])[0]


def on_main(fn: Callable[[], T]) -> T:
    """Run `fn` on the main process only and give its result to every process.

    When `fn` raises an `AtestError`, the main process raises it and every other process
    raises `ShownByMain` with its exit code, instead of waiting for a result that never comes.
    """
    if world() == 1:
        return fn()
    if not is_main():
        failed, value = broadcast(None)
        if failed:
            raise ShownByMain(value)
        return value
    try:
        value = fn()
    except AtestError as exc:
        broadcast((True, exc.exit_code))
        raise
    return broadcast((False, value))[1]


@contextmanager
def same_on_every_rank() -> Iterator[None]:
    """Mark checks that fail alike on every process (plan time): only the main one reports."""
    try:
        yield
    except AtestError as exc:
        if is_main() or isinstance(exc, ShownByMain):
            raise
        raise ShownByMain(exc.exit_code) from None


def shard(items: Sequence[T]) -> list[T]:
    """This process's share of `items`: every world()-th one from its rank (balanced, order kept)."""
    return list(items[rank() :: world()])


def map_sharded(fn: Callable[[list[T]], list[R]], items: Sequence[T], *, even: bool = False) -> list[R]:
    """`fn` over `items`, each process doing its share; every process gets all results in order.

    `even`: every process calls `fn` on as many items (a short share repeats its last item, or
    the first of `items` when it has none, and drops the extra results), for an `fn` whose
    collectives need every process at each call (generation under ZeRO-3 gathers weights)."""
    if world() == 1:
        return fn(list(items))
    mine = shard(items)
    size = len(mine)
    if even and items:
        mine += [mine[-1] if mine else items[0]] * (-(-len(items) // world()) - size)
    parts = all_gather(fn(mine)[:size])
    out: list[Any] = [None] * len(items)
    for r, part in enumerate(parts):
        out[r :: world()] = part
    return out
