"""The `atest` entry point: registers one Typer command per module in atest.commands."""

from __future__ import annotations

import os

import typer

from atest import __version__
from atest.commands import (
    attack_eval,
    bon,
    demo,
    example_tests,
    fidelity,
    filter,
    gen_solutions,
    gen_tests,
    merge_lora,
    mutation_score,
    prepare,
    reward,
    train,
    warmup,
)
from atest.commands._common import AtestGroup, quiet_library_bars
from atest.core.sandbox.executor import (
    BATCH_ENV,
    EXECUTOR_ENV,
    ISOLATIONS,
    PROVIDERS,
    RAY_ADDRESS_ENV,
    SANDBOX_ENV,
)

app = typer.Typer(
    name="atest",
    help="Train and evaluate LLMs that write unit tests (UTRL and ATGEN, on TRL GRPO).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    cls=AtestGroup,
)

for module in (
    prepare,
    train,
    merge_lora,
    gen_tests,
    gen_solutions,
    example_tests,
    bon,
    fidelity,
    attack_eval,
    filter,
    mutation_score,
    warmup,
    demo,
    reward,
):
    module.register(app)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"atest {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
    sandbox: str = typer.Option(
        None,
        "--sandbox",
        envvar=SANDBOX_ENV,
        help="Sandbox isolation for every program run: auto (namespaces when the kernel allows, "
        "else limits only, with a warning), namespace (required), none (trusted debugging only).",
    ),
    sandbox_batch: int = typer.Option(
        None,
        "--sandbox-batch",
        envvar=BATCH_ENV,
        min=1,
        max=4096,
        help="Inputs of one program that may share a forked child, each in a fresh namespace "
        "(default 64); 1 forks once per execution.",
    ),
    executor: str = typer.Option(
        None,
        "--executor",
        envvar=EXECUTOR_ENV,
        help="Where programs run: local (this machine's fork server, default), subprocess (one "
        "process per run, no namespaces: the reference), ray (every node of a Ray cluster).",
    ),
    ray_address: str = typer.Option(
        None,
        "--ray-address",
        envvar=RAY_ADDRESS_ENV,
        help="Ray cluster to run programs on (implies --executor ray): auto, HOST:PORT or "
        "ray://HOST:10001 (without it, --executor ray starts a local Ray runtime for the command).",
    ),
) -> None:
    """Train and evaluate LLMs that write unit tests."""
    quiet_library_bars()
    if sandbox is not None:
        if sandbox not in ISOLATIONS:
            typer.echo(f"error: --sandbox {sandbox!r}: use one of {', '.join(ISOLATIONS)}", err=True)
            raise typer.Exit(2)
        os.environ[SANDBOX_ENV] = sandbox
    if sandbox_batch is not None:
        os.environ[BATCH_ENV] = str(sandbox_batch)
    if executor is not None:
        if executor not in PROVIDERS:
            typer.echo(f"error: --executor {executor!r}: use one of {', '.join(PROVIDERS)}", err=True)
            raise typer.Exit(2)
        os.environ[EXECUTOR_ENV] = executor
    if ray_address is not None:
        if executor not in (None, "ray"):
            typer.echo(
                f"error: --ray-address runs programs on Ray, but --executor is {executor!r}: "
                "drop one of the two",
                err=True,
            )
            raise typer.Exit(2)
        os.environ[EXECUTOR_ENV] = "ray"
        os.environ[RAY_ADDRESS_ENV] = ray_address


def main() -> None:
    app()
