"""`atest warmup`: teach a small model the test format with a few supervised steps, before RL."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from atest.commands import _options as opt
from atest.commands._common import console, emit_json, handle_errors, sandbox_settings
from atest.core.results import WarmupResult
from atest.core.training.warmup import N_TESTS


def register(app: typer.Typer) -> None:
    @app.command(
        "warmup",
        help="Format warm-up (SFT on training tasks' gold tests) for models too small to follow the format.",
    )
    @handle_errors
    def _cmd(
        tasks: opt.TasksOpt,
        out: Annotated[Path, typer.Option("--out", help="Folder for the warmed-up model.")],
        model: Annotated[str, typer.Option("--model", help="Built-in name, local folder or hub id.")] = (
            "smollm2-135m"
        ),
        prompt: Annotated[str, typer.Option("--prompt", help="utrl or atgen: the format to teach.")] = "utrl",
        steps: Annotated[int, typer.Option("--steps", min=1, help="Optimizer steps.")] = 30,
        learning_rate: Annotated[float, typer.Option("--lr", min=0.0, help="Learning rate.")] = 5e-5,
        batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 4,
        max_length: Annotated[int, typer.Option("--max-length", min=64, help="Tokens per example.")] = 2048,
        n_tests: Annotated[
            int,
            typer.Option(
                "--n-tests", min=1, help="utrl: gold tests per target (and asked for by its prompt)."
            ),
        ] = N_TESTS,
        targets: Annotated[
            str,
            typer.Option(
                "--targets",
                help="plain: the first gold test(s) under a fixed reasoning sentence; worked: the simplest "
                "gold test(s), the reasoning stating the outputs (atgen: the shown code's against a correct one).",
            ),
        ] = "plain",
        seed: Annotated[int, typer.Option("--seed")] = 0,
        force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists.")] = False,
        workers: opt.WorkersOpt = None,
        json_out: opt.JsonOpt = False,
    ) -> None:
        from atest.core.errors import InputError
        from atest.core.metrics.inputs import load_tasks
        from atest.core.modelcard import warmup_card, write_model_card
        from atest.core.models import resolve_model
        from atest.core.sandbox import Limits, get_executor
        from atest.core.training.warmup import WarmupOptions, build_examples, run_warmup

        templates = {"utrl": "utrl-test", "atgen": "atgen"}
        if prompt not in templates:
            raise InputError(f"--prompt {prompt!r}: use utrl or atgen")
        if out.exists() and not force:
            raise InputError(f"{out} exists", "pass --force to replace it, or choose another --out")
        options = WarmupOptions(
            template=templates[prompt], steps=steps, learning_rate=learning_rate, batch_size=batch_size,
            max_length=max_length, n_tests=n_tests, targets=targets, seed=seed,
        )  # fmt: skip
        loaded, _warnings = load_tasks(tasks)
        with get_executor(workers=workers, settings=sandbox_settings()) as executor:
            examples = build_examples(loaded, options, executor, Limits())
        model_dir = resolve_model(model)
        console.print(f"warm-up: {len(examples)} examples, {steps} steps on {model}", highlight=False)
        summary = run_warmup(model_dir, examples, out, options)
        write_model_card(
            out, warmup_card(model=model, model_dir=model_dir, tasks=tasks, summary=summary, options=options)
        )
        console.print(
            f"loss {summary.loss_first:.3f} -> {summary.loss_last:.3f}; model saved to {summary.out}",
            highlight=False,
        )
        if json_out:
            emit_json(
                WarmupResult(
                    out=str(summary.out),
                    model=model,
                    prompt=prompt,
                    n_examples=summary.n_examples,
                    steps=summary.steps,
                    loss_first=summary.loss_first,
                    loss_last=summary.loss_last,
                )
            )
