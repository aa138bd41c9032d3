"""The run's deliverables under OUT/final/: each trained role as a full model with its tokenizer,
loadable by transformers and vLLM as is, and for LoRA roles the adapter beside it."""

from __future__ import annotations

import shutil
from pathlib import Path

from atest.core.modelcard import write_run_cards
from atest.core.models import is_adapter_dir
from atest.core.training.run.context import LoopContext
from atest.core.training.run.merge import merge_lora
from atest.core.training.run.run_dir import replace_dir


def export_role(ctx: LoopContext, role: str, model_dir: Path, base_dir: str) -> Path:
    """Write OUT/final/<role> (and OUT/final/<role>_adapter for LoRA); idempotent across resumes."""
    name = f"final/{role}"
    target = ctx.run.root / "final" / role
    if ctx.run.is_done(name):
        return target
    info: dict[str, str] = {"model": ctx.rel(target)}
    if ctx.is_main:
        if is_adapter_dir(model_dir):
            adapter = target.with_name(f"{role}_adapter")
            copy_dir(model_dir, adapter)
            merge_lora(base_dir, adapter, target, force=True)
            info["adapter"] = ctx.rel(adapter)
        else:
            copy_dir(model_dir, target)
        write_run_cards(ctx, role, target)
        ctx.on_event(f"{name}: saved {ctx.rel(target)}")
    ctx.mark_done(name, **info)
    return target


def copy_dir(source: Path, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(source, tmp)
    replace_dir(tmp, target)
