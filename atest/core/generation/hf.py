"""The in-process transformers backend: the CPU default, and the reference the others are checked against."""

from __future__ import annotations

import gc
from typing import Any

from atest.core.cpu import has_gpu
from atest.core.errors import InputError
from atest.core.generation.params import Completion, Messages, SamplingParams
from atest.core.models import ADAPTER_CONFIG, is_adapter_dir


def pick_device(device: str | None) -> str:
    if device in (None, "auto"):
        return "cuda" if has_gpu() else "cpu"
    return device


def set_threads(threads: int) -> None:
    """Torch's CPU threads for this process. Torch uses one per core; on a machine whose cores are
    busy with other jobs, fewer threads than cores run much faster (they stop waiting on each other)."""
    import torch

    if threads < 1:
        raise InputError(f"threads {threads} must be at least 1")
    torch.set_num_threads(threads)


def render_chat(tokenizer: Any, messages: Messages, *, thinking: bool | None = None) -> str:
    """The prompt text a chat model expects. `enable_thinking` is passed only to templates that read
    it (Qwen3 style); a model without a chat template gets the message contents one after another."""
    template = tokenizer.chat_template
    if not template:
        return "\n\n".join(m["content"] for m in messages) + "\n"
    extra = (
        {"enable_thinking": bool(thinking)} if thinking is not None and "enable_thinking" in template else {}
    )
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **extra)


class HFGenerator:
    """Batched decoding on a transformers model (see `decode.Decoder` for why not `model.generate`).
    Prompts are sorted by length so that a batch pads little; results come back in prompt order.
    `batch_size` bounds the rows (prompts times `n`) decoded together."""

    def __init__(
        self,
        model: str,
        *,
        adapter: str | None = None,
        device: str | None = None,
        dtype: str | None = None,
        batch_size: int = 32,
        thinking: bool | None = None,
        threads: int | None = None,
    ):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from atest.core.generation.decode import Decoder
        from atest.core.models import resolve_model

        if batch_size < 1:
            raise InputError(f"batch size {batch_size} must be at least 1")
        if threads is not None:
            set_threads(threads)
        self.model_id = model
        self.batch_size = batch_size
        self.thinking = thinking
        self.device = pick_device(device)
        path = resolve_model(model)
        torch_dtype = (
            getattr(torch, dtype) if dtype else (torch.bfloat16 if self.device == "cuda" else torch.float32)
        )
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            net = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
        except OSError as exc:
            raise InputError(
                f"cannot load model {model!r} ({exc})", "pass a local model folder or smollm2-135m"
            ) from exc
        if adapter:
            net = _with_adapter(net, adapter)
        self.model = net.to(self.device).eval()
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.stop_ids = _stop_ids(self.model, self.tokenizer)
        self.decoder = Decoder(self.model, self.stop_ids)

    def generate(self, prompts: list[Messages], params: SamplingParams) -> list[list[Completion]]:
        import torch

        texts = [render_chat(self.tokenizer, m, thinking=self.thinking) for m in prompts]
        encoded = [self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
        # The n rows of a prompt share its prefill, so they stay in one call.
        per_call = max(1, self.batch_size // params.n)
        results: list[list[Completion]] = [[] for _ in prompts]
        if params.seed is not None:
            torch.manual_seed(params.seed)
        for start in range(0, len(order), per_call):
            batch = order[start : start + per_call]
            tokens = self.decoder.run(
                [encoded[i] for i in batch],
                params.n,
                max_new_tokens=params.max_new_tokens,
                temperature=params.temperature,
                top_p=params.top_p,
            )
            for i, rows in zip(batch, tokens, strict=True):
                results[i] = [self._completion(row) for row in rows]
        return results

    def _completion(self, new_ids: list[int]) -> Completion:
        stop_at = next((k for k, tok in enumerate(new_ids) if tok in self.stop_ids), None)
        if stop_at is None:
            return Completion(
                self.tokenizer.decode(new_ids, skip_special_tokens=True), len(new_ids), "length"
            )
        text = self.tokenizer.decode(new_ids[:stop_at], skip_special_tokens=True)
        return Completion(text, stop_at + 1, "stop")

    def close(self) -> None:
        import torch

        self.model = None
        gc.collect()
        if has_gpu():
            torch.cuda.empty_cache()


def _with_adapter(model: Any, adapter: str) -> Any:
    """Apply a LoRA adapter and fold it into the weights: same outputs, no per-token adapter cost."""
    from peft import PeftModel

    if not is_adapter_dir(adapter):
        raise InputError(f"{adapter}: not a PEFT adapter folder (no {ADAPTER_CONFIG})")
    return PeftModel.from_pretrained(model, adapter).merge_and_unload()


def _stop_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    for source in (model.generation_config.eos_token_id, tokenizer.eos_token_id):
        if isinstance(source, int):
            ids.add(source)
        elif source:
            ids.update(source)
    if not ids:
        raise InputError("the model defines no end-of-sequence token", "set eos_token_id in its config")
    return ids
