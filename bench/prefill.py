"""Prefix sharing in the hf backend's prefill, against prefilling every prompt whole.

ATGEN's prompt is one task's statement followed by one buggy code, so the prompts of a task
share a long prefix. On a CPU the prefill is nearly all of a short generation's time (decoding
a few dozen tokens costs little next to running a thousand-token prompt through the model),
so the decoder copies the shared keys and values from the earlier prompt instead of computing
them again. This runs the same prompts through one loaded model with sharing on and off,
alternating which goes first, and reports the wall times, their ratio, how many prompt tokens
each side ran, and whether greedy texts agree (they may part where two tokens are nearly tied:
the shared and the whole prefill add the same floats in a different order).

    .venv/bin/python bench/prefill.py                 # the demo's 4 evaluation tasks, 3 buggy codes each
    .venv/bin/python bench/prefill.py --tasks 8 --buggy 4 --repeat 2

The last line printed is one JSON object with the headline figures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from atest.core import gentests
from atest.core.generation import SamplingParams
from atest.core.generation.decode import _longest_shared_prefix
from atest.core.generation.hf import HFGenerator, render_chat
from atest.core.tasks import read_tasks


def build_prompts(args: argparse.Namespace, workdir: Path) -> list[Any]:
    """ATGEN prompts for the first tasks of the bundled sample, mutants of the gold solution as
    the buggy code (what `atest demo` prompts with)."""
    tasks_file = workdir / "tasks.jsonl"
    subprocess.run(
        [
            sys.executable, "-m", "atest", "prepare", "--source", "sample", "--limit", str(args.tasks),
            "--verify", "--mutants", str(args.buggy), "--mutants-into", "buggy", "--out", str(tasks_file),
            "--json",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    tasks, _ = read_tasks(tasks_file, strict=True)
    units, _ = gentests.prompt_units(tasks, "atgen", thinking=False, n_tests=1)
    return [unit.messages for unit in units]


def prefilled_tokens(generator: HFGenerator, prompts: list[Any], share: bool) -> tuple[int, int]:
    """Prompt tokens in all, and those the prefill runs (in the decoder's longest-first order)."""
    encoded = [
        generator.tokenizer(render_chat(generator.tokenizer, m), add_special_tokens=False)["input_ids"]
        for m in prompts
    ]
    encoded.sort(key=len, reverse=True)
    total = sum(len(ids) for ids in encoded)
    if not share:
        return total, total
    return total, total - sum(_longest_shared_prefix(encoded[:i], ids)[1] for i, ids in enumerate(encoded))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=4, help="first N bundled sample tasks (default 4)")
    parser.add_argument("--buggy", type=int, default=3, help="buggy codes (mutants) per task (default 3)")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=1, help="rounds, alternating which side goes first")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="atest-prefill-") as tmp:
        prompts = build_prompts(args, Path(tmp))
    generator = HFGenerator(args.model)
    params = SamplingParams(temperature=0.0, max_new_tokens=args.max_new_tokens, n=1, seed=0)
    generator.generate(prompts[:1], SamplingParams(temperature=0.0, max_new_tokens=2, n=1, seed=0))
    seconds: dict[bool, list[float]] = {True: [], False: []}
    texts: dict[bool, list[str]] = {}
    for round_ in range(args.repeat):
        for share in (True, False) if round_ % 2 == 0 else (False, True):
            generator.decoder.share_prefixes = share
            start = time.perf_counter()
            out = generator.generate(prompts, params)
            seconds[share].append(time.perf_counter() - start)
            texts[share] = [completions[0].text for completions in out]
    whole = min(seconds[False])
    shared = min(seconds[True])
    total, ran = prefilled_tokens(generator, prompts, share=True)
    same = sum(a == b for a, b in zip(texts[True], texts[False], strict=True))
    figures = {
        "prompts": len(prompts),
        "prompt_tokens": total,
        "prefilled_tokens_shared": ran,
        "whole_s": round(whole, 2),
        "shared_s": round(shared, 2),
        "speedup": round(whole / shared, 2),
        "identical_greedy_texts": f"{same}/{len(prompts)}",
        "max_new_tokens": args.max_new_tokens,
        "model": args.model,
    }
    print(
        f"{len(prompts)} ATGEN prompts, {total} prompt tokens; the shared prefill runs {ran} of them.\n"
        f"whole prefill {whole:.1f} s, shared {shared:.1f} s: {whole / shared:.2f}x; "
        f"greedy texts identical for {same} of {len(prompts)} prompts",
        file=sys.stderr,
    )
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
