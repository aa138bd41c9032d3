"""What every subcommand shares: stderr console, one-JSON-object stdout, error to exit code.

Exit codes (the README's table): 0 success; 1 a gate not met (`filter --min-pass`) and
nothing else; 2 bad input, checked before any work; 3 a fault of the machine, a service or
atest itself (never a verdict on the input); 130 interrupted. With `--json`, a failure still
prints exactly one JSON object on stdout:

    {"error": {"exit_code": 2, "kind": "bad_input", "message": "...", "hint": "..." | null}}

`kind` is `bad_input` (2), `infrastructure` (3) or `interrupted` (130).
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from typer.core import TyperGroup
from typer.exceptions import TyperException

from atest.core.errors import EXIT_BAD_INPUT, EXIT_EXTERNAL, AtestError
from atest.core.sandbox.settings import SandboxSettings, resolve
from atest.core.training.run.ranks import ShownByMain, await_main_report

TRACEBACK_ENV = "ATEST_TRACEBACK"  # set to 1 to see the traceback of an unexpected failure
EXIT_INTERRUPTED = 130


def _make_console() -> Console:
    """Progress, tables and logs go to stderr so that stdout carries only `--json` output.

    Without a terminal (a CI log, `2> file`) a line is never wrapped mid-sentence: Rich would
    otherwise cut every line at 80 columns.
    """
    out = Console(stderr=True)
    if not out.is_terminal:
        width = int(os.environ["COLUMNS"]) if os.environ.get("COLUMNS", "").isdigit() else 200
        out = Console(stderr=True, soft_wrap=True, width=width)
    return out


console = _make_console()

F = TypeVar("F", bound=Callable[..., Any])


def strict_json(obj: Any) -> Any:
    """The value with NaN and infinities as null: Python writes them as bare `NaN`, which
    strict parsers (jq, JavaScript, most other languages) reject, and a metric can be NaN."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: strict_json(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [strict_json(value) for value in obj]
    return obj


def emit_json(obj: Any) -> None:
    """Print exactly one JSON object on stdout: a command's result model (atest.core.results)
    or the error object."""
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json")
    sys.stdout.write(json.dumps(strict_json(obj), ensure_ascii=False, default=str, allow_nan=False) + "\n")
    sys.stdout.flush()


_KINDS = {EXIT_BAD_INPUT: "bad_input", EXIT_EXTERNAL: "infrastructure", EXIT_INTERRUPTED: "interrupted"}


def emit_error(exit_code: int, message: str, hint: str | None, kind: str | None = None) -> None:
    """The one JSON error object of a failed `--json` command (atest.core.results.ErrorResult)."""
    from atest.core.results import ErrorDetail, ErrorResult

    kind = kind or _KINDS.get(exit_code, "error")
    emit_json(ErrorResult(error=ErrorDetail(exit_code=exit_code, kind=kind, message=message, hint=hint)))  # type: ignore[arg-type]


def fail(exit_code: int, message: str, hint: str | None, json_out: bool) -> typer.Exit:
    """Report a failure as one `error:` line on stderr (and the JSON error object with --json)."""
    line = f"{message} ({hint})" if hint else message
    # The message is plain text: "[ray]" in `pip install 'atest[ray]'` is not markup.
    console.print(f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)
    if json_out:
        emit_error(exit_code, message, hint)
    return typer.Exit(exit_code)


def handle_errors(fn: F) -> F:
    """Every way a command can fail, mapped to its exit code: never a traceback, never exit 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        json_out = bool(kwargs.get("json_out"))
        try:
            return fn(*args, **kwargs)
        except ShownByMain as exc:  # a launch's other process: the main one prints it, --json too
            await_main_report()
            raise typer.Exit(exc.exit_code) from None
        except AtestError as exc:
            raise fail(exc.exit_code, exc.message, exc.hint, json_out) from None
        except KeyboardInterrupt:
            raise fail(EXIT_INTERRUPTED, "interrupted", None, json_out) from None
        except (typer.Exit, typer.Abort, TyperException):
            raise
        except MemoryError:
            raise fail(
                EXIT_EXTERNAL, "out of memory", "free memory or use smaller batches", json_out
            ) from None
        except Exception as exc:  # a bug or a machine fault: exit 3, never a bare traceback
            if os.environ.get(TRACEBACK_ENV):
                traceback.print_exc()
            where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
            at = f" at {os.path.basename(where.filename)}:{where.lineno}" if where else ""
            raise fail(
                EXIT_EXTERNAL,
                f"unexpected failure: {type(exc).__name__}: {exc}{at}",
                f"not a problem with the input; rerun with {TRACEBACK_ENV}=1 for the traceback and report it",
                json_out,
            ) from None

    return wrapper  # type: ignore[return-value]


@dataclass(frozen=True)
class SandboxLayers:
    """What the root options and the environment said about the sandbox, before a command's own
    config (a training config's `sandbox:` section) joins as the lowest layer."""

    flags: dict[str, Any]
    env: dict[str, str]

    def settings(self, config: dict[str, Any] | None = None) -> SandboxSettings:
        return resolve(self.flags, self.env, config)


_LAYERS: ContextVar[SandboxLayers | None] = ContextVar("atest_sandbox_layers", default=None)


def set_sandbox_layers(layers: SandboxLayers) -> None:
    """Called once per invocation by the root callback (cli.py), the CLI's edge."""
    _LAYERS.set(layers)


def sandbox_settings(config: dict[str, Any] | None = None) -> SandboxSettings:
    """The sandbox settings of this invocation (flag > environment > `config`), from the
    layers the root callback recorded; the defaults (over `config`) outside the CLI."""
    layers = _LAYERS.get()
    if layers is not None:
        return layers.settings(config)
    return resolve(config=config)


class AtestGroup(TyperGroup):
    """The root command: click's own usage errors (unknown flag, bad value) exit 2 as ever,
    and with `--json` anywhere on the line they also print the JSON error object."""

    def main(self, args: Any = None, prog_name: str | None = None, **extra: Any) -> Any:  # type: ignore[override]
        argv = list(sys.argv[1:] if args is None else args)
        if "--json" not in argv:
            return super().main(args=argv, prog_name=prog_name, **extra)
        standalone = extra.pop("standalone_mode", True)
        try:
            result = super().main(args=argv, prog_name=prog_name, standalone_mode=False, **extra)
        except typer.Exit as exc:
            code = exc.exit_code
        except typer.Abort:
            emit_error(EXIT_INTERRUPTED, "interrupted", None)
            code = EXIT_INTERRUPTED
        except TyperException as exc:  # click's usage errors (typer vendors click)
            exc.show()  # type: ignore[attr-defined]
            code = getattr(exc, "exit_code", EXIT_BAD_INPUT)
            message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
            emit_error(code, message, None, kind="bad_input")
        else:
            # without standalone mode, a command's `typer.Exit(n)` comes back as its return value
            code = result if isinstance(result, int) else 0
        if standalone:
            sys.exit(code)
        return code


class PlainProgress:
    """Progress for a log without a terminal: a plain line now and then, never a `\\r` bar.

    A line at most every `every` seconds (done/total, rate, time left), and a last one when
    the work ends if any line was printed, so a CI log of a long command is never silent.
    """

    def __init__(self, label: str, unit: str, every: float = 30.0):
        self.label, self.unit, self.every = label, unit, every
        self.start = time.monotonic()
        self.last: float | None = None

    def __call__(self, done: int, total: int | None, extra: str = "") -> None:
        now = time.monotonic()
        finished = total is not None and done >= total
        since = now - (self.last if self.last is not None else self.start)
        if since < self.every and not (finished and self.last is not None):
            return
        self.last = now
        elapsed = now - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        left = (
            f", about {_duration((total - done) / rate)} left" if total and rate > 0 and not finished else ""
        )
        of = f"/{total}" if total is not None else ""
        console.print(
            f"{self.label}: {done}{of} {self.unit}, {rate:.2f}/s, {_duration(elapsed)} elapsed{left}{extra}",
            highlight=False,
        )


@contextlib.contextmanager
def progress_bar(
    label: str, quiet: bool = False, *, unit: str = "runs", every: float = 30.0, tokens: bool = False
) -> Iterator[Any]:
    """A Rich bar on stderr on a terminal; in a log, a plain line now and then (`PlainProgress`),
    never a `\r` bar. `quiet` (--json) drops the bar, never the log lines.

    The callback it yields is the core's: `progress(done, total)`, or with `tokens` (generation)
    `progress(p)` for a `gentests.Progress` p, shown with its tokens per second.
    """
    if not console.is_terminal:
        plain = PlainProgress(label, unit, every=every)
        if not tokens:
            yield plain
            return

        def log(p: Any) -> None:
            plain(p.units_done, p.units_total, f", {_tokens_per_s(p):.1f} tokens/s")

        yield log
        return
    if quiet:
        yield None
        return
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    if tokens:
        columns.append(TextColumn("{task.fields[tps]:.1f} tok/s"))
    with Progress(
        *columns, TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True
    ) as bar:
        handle = bar.add_task(label, total=None, tps=0.0)

        def update(done: int, total: int) -> None:
            bar.update(handle, completed=done, total=total)

        def update_tokens(p: Any) -> None:
            bar.update(handle, completed=p.units_done, total=p.units_total, tps=_tokens_per_s(p))

        yield update_tokens if tokens else update


def _tokens_per_s(p: Any) -> float:
    return p.tokens / p.seconds if p.seconds else 0.0


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def quiet_library_bars() -> None:
    """Without a terminal, libraries' `\\r` progress bars (transformers' "Loading weights",
    the hub's downloads, tqdm) would fill a log with carriage returns: switch them off.

    Set in the environment before the libraries are imported (they read it then), and for
    transformers also through its API in case it was imported already.
    """
    if console.is_terminal:
        return
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "warning")
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()


def check_outputs(*, force: bool = False, cache_dir: Any = None, **paths: Any) -> None:
    """Every output of a command checked before any work (atest.core.io's write policy):
    `paths` maps a flag name (out, plot, tests_out) to its path or None."""
    from atest.core.io import check_output

    for name, path in paths.items():
        if path is not None:
            check_output(path, flag="--" + name.replace("_", "-"), force=force)
    if cache_dir is not None:
        check_output(cache_dir, flag="--cache-dir", may_exist=True, directory=True)
