"""The hf backend's decoding loop against transformers' own `generate`, on a real (tiny) model.

The loop prefills prompts one by one, decodes them together in an in-place key/value buffer and
drops rows as they stop; each of those must leave every row's greedy tokens what `generate` gives
for that prompt alone."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from atest.core.errors import InputError
from atest.core.generation import decode, make_generator
from atest.core.generation.decode import Decoder

QUESTIONS = [
    "Write a test.",
    "Problem: print the sum of two integers read from standard input. Write three unit tests for it.",
    "Sort a list.",
    "Given n and a list of n integers, print the largest gap between two consecutive sorted values.",
]


@pytest.fixture(scope="module")
def lm(tiny_model_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    # As built, the tiny model answers every prompt with one repeated token; larger random weights
    # give answers that differ by prompt and by step, so a misplaced key or position would show.
    torch.manual_seed(0)
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() == 2:
                param.normal_(0, 0.3)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    prompts = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": q}], add_generation_prompt=True, tokenize=False
        )
        for q in QUESTIONS
    ]
    ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    assert len({len(i) for i in ids}) == len(ids), "prompts of different lengths exercise the padding"
    return model, ids


def reference(model, ids: list[int], max_new_tokens: int, stop: set[int]) -> list[int]:
    """`generate` on one unpadded prompt: greedy tokens up to and including the first stop token."""
    with torch.no_grad():
        out = model.generate(
            torch.tensor([ids]),
            attention_mask=torch.ones(1, len(ids), dtype=torch.long),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=sorted(stop),
            pad_token_id=sorted(stop)[0],
        )
    new = out[0, len(ids) :].tolist()
    cut = next((k for k, tok in enumerate(new) if tok in stop), None)
    return new if cut is None else new[: cut + 1]


def test_greedy_rows_match_generate_one_prompt_at_a_time(lm, monkeypatch):
    model, ids = lm
    # A small buffer step and eager compaction make the run grow the buffer and drop rows often.
    monkeypatch.setattr(decode, "GROW_STEP", 3)
    monkeypatch.setattr(decode, "COMPACT_SHARE", 1)
    free = reference(model, ids[0], 12, {0})
    # Stop on a token the first prompt emits early, so rows end at different steps.
    stop = {free[1]}
    expected = [reference(model, i, 12, stop) for i in ids]
    assert len({len(e) for e in expected}) > 1, "rows should finish at different steps"
    got = Decoder(model, stop).run(ids, 1, max_new_tokens=12, temperature=0.0, top_p=1.0)
    assert [rows[0] for rows in got] == expected


def test_decoding_steps_attend_without_copying_the_key_value_heads(lm, monkeypatch):
    """transformers' sdpa repeats every key/value head of a masked batch (a copy of the whole
    cache each step); the decoder's steps use GQA as is, with the same tokens, and leave the
    model's attention as it found it."""
    from transformers.integrations import sdpa_attention

    model, ids = lm
    assert model.config.num_key_value_heads < model.config.num_attention_heads  # the tiny model is GQA
    model.set_attn_implementation("sdpa")
    expected = [reference(model, i, 10, {0}) for i in ids]
    copies: list[int] = []
    real = sdpa_attention.repeat_kv
    monkeypatch.setattr(sdpa_attention, "repeat_kv", lambda h, n: copies.append(n) or real(h, n))
    got = Decoder(model, {0}).run(ids, 1, max_new_tokens=10, temperature=0.0, top_p=1.0)
    assert [rows[0] for rows in got] == expected
    assert copies == []
    assert model.config._attn_implementation == "sdpa"


def test_prompts_sharing_a_prefix_decode_as_if_prefilled_alone(lm):
    """Later prompts reuse an earlier one's keys for the tokens they share (one task's statement
    before each buggy code); a prompt equal to an earlier one, or a prefix of it, still gets the
    logits of its own last token."""
    model, ids = lm
    base = ids[3]
    prompts = [base + ids[0], base + ids[2], base, base[:-5], base + ids[0], ids[1]]
    stop = {0}
    expected = [reference(model, p, 8, stop) for p in prompts]
    ran: list[int] = []
    hook = model.register_forward_pre_hook(
        lambda module, args, kwargs: ran.append(kwargs["input_ids"].shape[1]), with_kwargs=True
    )
    try:
        got = Decoder(model, stop).run(prompts, 1, max_new_tokens=8, temperature=0.0, top_p=1.0)
    finally:
        hook.remove()
    assert [rows[0] for rows in got] == expected
    prefilled = ran[: len(prompts)]
    assert prefilled[0] == len(prompts[0])
    assert prefilled[1] <= len(ids[2]), "the second prompt runs only what follows the shared statement"
    assert prefilled[2:5] == [1, 1, 1], "a prompt held in an earlier one runs its last token only"


def test_samples_share_a_prefill_and_are_reproducible(lm):
    model, ids = lm
    decoder = Decoder(model, {0})
    torch.manual_seed(3)
    first = decoder.run(ids[:2], 3, max_new_tokens=6, temperature=1.0, top_p=0.9)
    torch.manual_seed(3)
    assert decoder.run(ids[:2], 3, max_new_tokens=6, temperature=1.0, top_p=0.9) == first
    assert [len(rows) for rows in first] == [3, 3]
    assert all(1 <= len(row) <= 6 for rows in first for row in rows)
    assert len({tuple(row) for rows in first for row in rows}) > 1, "samples should differ"
    greedy = decoder.run(ids[:2], 2, max_new_tokens=6, temperature=0.0, top_p=1.0)
    assert all(rows[0] == rows[1] for rows in greedy)


def test_threads_option_sets_torch_threads(tiny_model_dir):
    before = torch.get_num_threads()
    try:
        generator = make_generator("hf", str(tiny_model_dir), threads=1)
        generator.close()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    with pytest.raises(InputError, match="threads 0"):
        make_generator("hf", str(tiny_model_dir), threads=0)
