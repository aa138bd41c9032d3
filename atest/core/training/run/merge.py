"""Fold a LoRA adapter into its base model, giving one folder any transformers or vLLM loader reads."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from atest.core.errors import InputError
from atest.core.models import ADAPTER_CONFIG
from atest.core.training.run.run_dir import replace_dir


def check_adapter_dir(adapter: str | Path) -> Path:
    path = Path(adapter)
    if not path.is_dir():
        raise InputError(f"--adapter {path}: no such directory")
    if not (path / ADAPTER_CONFIG).is_file():
        raise InputError(f"--adapter {path}: no {ADAPTER_CONFIG} (not a PEFT adapter folder)")
    try:
        json.loads((path / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path / ADAPTER_CONFIG}: unreadable ({exc})") from exc
    return path


def check_out_dir(out: str | Path, force: bool) -> Path:
    path = Path(out)
    if path.exists() and not force:
        raise InputError(f"--out {path}: already exists", "pass --force to replace it")
    if path.exists() and not path.is_dir():
        raise InputError(f"--out {path}: exists and is not a directory")
    return path


def local_model(name_or_path: str) -> str:
    """A local model folder as is; anything else (a built-in name, a hub id) through `resolve_model`."""
    if Path(name_or_path).is_dir():
        return name_or_path
    from atest.core.models import resolve_model

    return resolve_model(name_or_path)


def merge_lora(base: str, adapter: str | Path, out: str | Path, *, force: bool = False) -> Path:
    """Write base+adapter merged, with the tokenizer, to `out` (atomically; `force` replaces it).

    The tokenizer comes from the adapter folder when it has one (training saves it there, with
    any chat template change), else from the base.
    """
    adapter_dir = check_adapter_dir(adapter)
    out_dir = check_out_dir(out, force)
    base_dir = local_model(base)

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        model = AutoModelForCausalLM.from_pretrained(base_dir, dtype="auto")
        model = PeftModel.from_pretrained(model, str(adapter_dir))
    except (OSError, ValueError, RuntimeError) as exc:
        raise InputError(f"cannot apply adapter {adapter_dir} to base {base}: {_first_line(exc)}") from exc
    merged = model.merge_and_unload()
    has_tokenizer = any(
        (adapter_dir / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json")
    )
    tokenizer = AutoTokenizer.from_pretrained(str(adapter_dir) if has_tokenizer else base_dir)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        with torch.no_grad():
            merged.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        replace_dir(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out_dir


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__
