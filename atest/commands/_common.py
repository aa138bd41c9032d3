"""What every subcommand shares: stderr console, one-JSON-object stdout, error to exit code."""

from __future__ import annotations

import functools
import json
import math
import sys
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from atest.core.errors import AtestError
from atest.core.sandbox.settings import SandboxSettings, resolve

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
