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
    reproduce,
    reward,
    sandbox,
    schema,
    synth,
    train,
    warmup,
)
from atest.commands._common import AtestGroup, SandboxLayers, quiet_library_bars, set_sandbox_layers
from atest.core.errors import InputError
from atest.core.training.run.ranks import die_with_launcher

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
    reproduce,
    reward,
    sandbox,
    synth,
    schema,
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
    isolation: str = typer.Option(
        None,
        "--sandbox",
        help="Sandbox isolation for every program run: auto (namespaces when the kernel allows, "
        "else limits only, with a warning), namespace (required), none (trusted debugging only). "
        "[env: ATEST_SANDBOX]",
    ),
    sandbox_batch: int = typer.Option(
        None,
        "--sandbox-batch",
        min=1,
        max=4096,
        help="Inputs of one program that may share a forked child, each in a fresh namespace "
        "(default 64); 1 forks once per execution. [env: ATEST_SANDBOX_BATCH]",
    ),
    executor: str = typer.Option(
        None,
        "--executor",
        help="Where programs run: local (this machine's fork server, default), subprocess (one "
        "process per run, no namespaces: the reference), ray (every node of a Ray cluster), "
        "sandboxfusion (a SandboxFusion-compatible server: --sandbox-url). [env: ATEST_EXECUTOR]",
    ),
    ray_address: str = typer.Option(
        None,
        "--ray-address",
        help="Ray cluster to run programs on (implies --executor ray): auto, HOST:PORT or "
        "ray://HOST:10001 (without it, --executor ray starts a local Ray runtime for the command). "
        "[env: ATEST_RAY_ADDRESS]",
    ),
    sandbox_url: str = typer.Option(
        None,
        "--sandbox-url",
        help="A SandboxFusion-compatible server to run programs on (implies --executor "
        "sandboxfusion), e.g. http://127.0.0.1:8080 (`atest sandbox serve`); a bearer token, if it "
        "wants one, comes from $ATEST_SANDBOX_TOKEN. [env: ATEST_SANDBOX_URL]",
    ),
) -> None:
    """Train and evaluate LLMs that write unit tests."""
    die_with_launcher()
    quiet_library_bars()
    # The sandbox settings are resolved here, once (flag > environment > a training config,
    # which `train` adds), and handed to the commands through the context: nothing below the
    # CLI reads the environment for them.
    flags = {
        "isolation": isolation,
        "max_batch": sandbox_batch,
        "executor": executor,
        "ray_address": ray_address,
        "url": sandbox_url,
    }
    layers = SandboxLayers(flags, dict(os.environ))
    try:
        layers.settings()  # refused here, before any work, when a layer contradicts itself
    except InputError as exc:
        typer.echo(f"error: {exc.one_line()}", err=True)
        raise typer.Exit(2) from None
    set_sandbox_layers(layers)


def main() -> None:
    app()
