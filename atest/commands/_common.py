"""What every subcommand shares: stderr console, one-JSON-object stdout, error to exit code."""

from __future__ import annotations

import functools
import json
import math
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from atest.core.errors import AtestError

# Progress, tables and logs go to stderr so that stdout carries only `--json` output.
console = Console(stderr=True)

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
    """Print exactly one JSON object on stdout."""
    sys.stdout.write(json.dumps(strict_json(obj), ensure_ascii=False, default=str, allow_nan=False) + "\n")
    sys.stdout.flush()


def handle_errors(fn: F) -> F:
    """Turn AtestError into `error: ...` on stderr and its exit code; Ctrl-C into 130."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AtestError as exc:
            # The message is plain text: "[ray]" in `pip install 'atest[ray]'` is not markup.
            console.print(f"[bold red]error:[/] {escape(exc.one_line())}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]
