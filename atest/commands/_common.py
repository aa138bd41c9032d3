"""What every subcommand shares: stderr console, one-JSON-object stdout, error to exit code."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from atest.core.errors import EXIT_NOT_IMPLEMENTED, AtestError

# Progress, tables and logs go to stderr so that stdout carries only `--json` output.
console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def emit_json(obj: Any) -> None:
    """Print exactly one JSON object on stdout."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def handle_errors(fn: F) -> F:
    """Turn AtestError into `error: ...` on stderr and its exit code; Ctrl-C into 130."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AtestError as exc:
            console.print(f"[bold red]error:[/] {exc.one_line()}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def not_implemented(command: str, issue: str) -> None:
    console.print(f"error: `atest {command}` is not implemented yet ({issue})", highlight=False)
    raise typer.Exit(EXIT_NOT_IMPLEMENTED)
