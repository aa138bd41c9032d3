"""`atest merge-lora`: the merged folder loads alone and computes what base + adapter computes."""

from __future__ import annotations

import json

import pytest
from atest_cli import run_cli


def make_adapter(base_dir, out_dir):
    """A LoRA adapter with non-zero weights, so merging visibly changes the base model."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(base_dir)
    config = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(out_dir)
    AutoTokenizer.from_pretrained(base_dir).save_pretrained(out_dir)


@pytest.mark.slow
def test_merged_model_matches_base_plus_adapter_and_refuses_overwrite(tmp_path, tiny_model_dir):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter = tmp_path / "adapter"
    make_adapter(tiny_model_dir, adapter)
    out = tmp_path / "merged"
    proc = run_cli(
        "merge-lora", "--base", str(tiny_model_dir), "--adapter", str(adapter), "--out", str(out), "--json"
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["out"] == str(out)
    assert not (out / "adapter_config.json").exists()
    assert (out / "tokenizer_config.json").is_file()

    tokenizer = AutoTokenizer.from_pretrained(out)
    inputs = tokenizer("def f(x):\n    return", return_tensors="pt")
    merged = AutoModelForCausalLM.from_pretrained(out).eval()
    reference = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir), adapter
    ).eval()
    plain = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    with torch.no_grad():
        got = merged(**inputs).logits
        want = reference(**inputs).logits
        base = plain(**inputs).logits
        assert torch.allclose(got, want, atol=1e-4)
        assert not torch.allclose(got, base, atol=1e-3)  # the adapter did change something
        kwargs = {"max_new_tokens": 12, "do_sample": False, "pad_token_id": tokenizer.pad_token_id}
        assert merged.generate(**inputs, **kwargs).tolist() == reference.generate(**inputs, **kwargs).tolist()

    again = run_cli("merge-lora", "--base", str(tiny_model_dir), "--adapter", str(adapter), "--out", str(out))
    assert again.returncode == 2 and "--force" in again.stderr
    forced = run_cli(
        "merge-lora", "--base", str(tiny_model_dir), "--adapter", str(adapter), "--out", str(out), "--force"
    )
    assert forced.returncode == 0, forced.stderr
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_bad_adapter_folder_is_a_one_line_error(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = run_cli(
        "merge-lora", "--base", "x", "--adapter", str(tmp_path / "empty"), "--out", str(tmp_path / "o")
    )
    assert proc.returncode == 2
    assert "adapter_config.json" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
