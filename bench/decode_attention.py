"""The hf decoder's attention on grouped key/value heads, against transformers' sdpa path.

SmolLM2-135M, like most small chat models, has fewer key/value heads than query heads (3 and 9).
With an attention mask (every left-padded batch has one), transformers' sdpa attention first
repeats each key/value head to match the query heads, copying the whole cache in every layer at
every decoding step, because CUDA's fused kernels refuse a mask together with grouped heads.
torch's CPU kernel takes both, so the decoder hands it the heads as they are
(`atest.core.generation.decode.gqa_attention`). This runs the same prompts through one loaded
model both ways, alternating which goes first, sampling `--n` rows a prompt (what gen-solutions
and GRPO's generation do) and greedily, and reports wall times, their ratio and whether the
tokens agree (they must: the two paths compute the same floats).

    .venv/bin/python bench/decode_attention.py                  # 4 sample tasks, 3 buggy codes each
    .venv/bin/python bench/decode_attention.py --n 8 --max-new-tokens 256 --repeat 2

The last line printed is one JSON object with the headline figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from prefill import build_prompts

from atest.core.generation import SamplingParams
from atest.core.generation.hf import HFGenerator


def timed(generator: HFGenerator, prompts: list[Any], params: SamplingParams) -> tuple[float, list[str]]:
    start = time.perf_counter()
    out = generator.generate(prompts, params)
    return time.perf_counter() - start, [c.text for completions in out for c in completions]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=4, help="first N bundled sample tasks (default 4)")
    parser.add_argument("--buggy", type=int, default=3, help="buggy codes (mutants) per task (default 3)")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--n", type=int, default=4, help="sampled rows per prompt (default 4)")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=1, help="rounds, alternating which side goes first")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="atest-attention-") as tmp:
        prompts = build_prompts(args, Path(tmp))
    generator = HFGenerator(args.model)
    config = generator.decoder.model.config
    runs = {
        "sampled": SamplingParams(temperature=1.0, max_new_tokens=args.max_new_tokens, n=args.n, seed=0),
        "greedy": SamplingParams(temperature=0.0, max_new_tokens=args.max_new_tokens, n=1, seed=0),
    }
    generator.generate(prompts[:1], SamplingParams(temperature=0.0, max_new_tokens=2, n=1, seed=0))
    seconds: dict[tuple[str, bool], list[float]] = {}
    texts: dict[tuple[str, bool], list[str]] = {}
    for round_ in range(args.repeat):
        for kind, params in runs.items():
            for grouped in (True, False) if round_ % 2 == 0 else (False, True):
                generator.decoder.grouped_heads = grouped
                took, texts[kind, grouped] = timed(generator, prompts, params)
                seconds.setdefault((kind, grouped), []).append(took)
    figures: dict[str, Any] = {
        "prompts": len(prompts),
        "n": args.n,
        "max_new_tokens": args.max_new_tokens,
        "model": args.model,
        "heads": f"{config.num_attention_heads} query / {config.num_key_value_heads} key-value",
        "threads": torch.get_num_threads(),
    }
    for kind in runs:
        copied, grouped = min(seconds[kind, False]), min(seconds[kind, True])
        same = sum(a == b for a, b in zip(texts[kind, True], texts[kind, False], strict=True))
        figures[f"{kind}_copied_s"] = round(copied, 2)
        figures[f"{kind}_grouped_s"] = round(grouped, 2)
        figures[f"{kind}_speedup"] = round(copied / grouped, 2)
        figures[f"{kind}_identical"] = f"{same}/{len(texts[kind, True])}"
        print(
            f"{kind}: heads copied {copied:.1f} s, grouped {grouped:.1f} s: {copied / grouped:.2f}x; "
            f"identical texts {same} of {len(texts[kind, True])}",
            file=sys.stderr,
        )
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
