"""`atest merge-lora`: fold a trained LoRA adapter into its base model."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from atest.commands._common import console, emit_json, handle_errors
from atest.commands._options import JsonOpt
from atest.core.results import MergeLoraResult


def register(app: typer.Typer) -> None:
    @app.command(
        "merge-lora", help="Merge a LoRA adapter into its base model (model + tokenizer, loadable by vLLM)."
    )
    @handle_errors
    def _cmd(
        base: Annotated[
            str, typer.Option("--base", help="Base model: a local folder, a hub id or a built-in name.")
        ],
        adapter: Annotated[
            Path, typer.Option("--adapter", help="Adapter folder (adapter_config.json inside).")
        ],
        out: Annotated[Path, typer.Option("--out", help="Folder to write the merged model to.")],
        force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists.")] = False,
        json_out: JsonOpt = False,
    ) -> None:
        from atest.core.modelcard import merged_card, write_model_card
        from atest.core.training.run.merge import check_adapter_dir, check_out_dir, merge_lora

        check_adapter_dir(adapter)
        check_out_dir(out, force)
        card = merged_card(base=base, adapter=adapter)  # an unreadable adapter card fails before the merge
        start = time.perf_counter()
        with console.status(f"merging {adapter} into {base}"):
            path = merge_lora(base, adapter, out, force=force)
            write_model_card(path, card)
        seconds = time.perf_counter() - start
        console.print(f"merged model written to [bold]{path}[/] in {seconds:.1f}s")
        if json_out:
            emit_json(
                MergeLoraResult(out=str(path), base=base, adapter=str(adapter), seconds=round(seconds, 2))
            )
