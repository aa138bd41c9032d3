"""The `atest` entry point: registers one Typer command per module in atest.commands."""

from __future__ import annotations

import typer

from atest import __version__
from atest.commands import (
    attack_eval,
    bon,
    demo,
    fidelity,
    filter,
    gen_tests,
    merge_lora,
    mutation_score,
    prepare,
    train,
)

app = typer.Typer(
    name="atest",
    help="Train and evaluate LLMs that write unit tests (UTRL and ATGEN, on TRL GRPO).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

for module in (prepare, train, merge_lora, gen_tests, bon, fidelity, attack_eval, filter, mutation_score, demo):
    module.register(app)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"atest {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Train and evaluate LLMs that write unit tests."""


def main() -> None:
    app()
