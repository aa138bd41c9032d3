"""Where a GRPO step's memory goes: resident memory at points of a fresh process, and the bytes
autograd keeps for the backward of one loss pass.

Loads what `atest train` loads (torch, transformers, TRL, PEFT, datasets, atest's training
modules, the embedded SmolLM2-135M), builds TRL's `GRPOTrainer` with a LoRA config like
bench/learning.py's, and runs one loss pass through TRL's own log-prob path
(`_get_per_token_logps_and_entropies`, the fused LM head) over one micro-batch of the ATGEN
prompt plus `--completion` random tokens, then a generation of the same size. Saved
activations are counted with `torch.autograd.graph.saved_tensors_hooks` (each storage once).
`--checkpointing` turns on activation checkpointing as TRL does. Each setting needs its own
process: the peak (`ru_maxrss`) only ever rises.

    nice -n 10 .venv/bin/python bench/training_memory.py
    nice -n 10 .venv/bin/python bench/training_memory.py --checkpointing

The last line is one JSON object of resident MB after each point, the saved bytes and the peak.
"""

from __future__ import annotations

import argparse
import json
import os
import resource

MB = 1024 * 1024
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE / MB


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--micro-batch", type=int, default=4)
    parser.add_argument("--completion", type=int, default=64, help="completion tokens per sequence")
    parser.add_argument("--lora-rank", type=int, default=16)
    parser.add_argument("--checkpointing", action="store_true", help="activation checkpointing on")
    args = parser.parse_args()
    out: dict[str, float | int | bool] = {"python": rss_mb()}
    import torch

    torch.set_num_threads(1)
    out["torch"] = rss_mb()
    import datasets
    import peft
    import transformers
    import trl

    out["transformers_trl_peft_datasets"] = rss_mb()
    from atest.core.training import runner  # noqa: F401
    from atest.core.training.phases import atgen_loop  # noqa: F401

    out["atest_training_modules"] = rss_mb()
    from atest.core.models import resolve_model
    from atest.core.prompts import build_messages
    from atest.core.tasks import read_tasks
    from atest.core.training.config import config_dir
    from atest.core.training.trainer.compat import checkpointing_field

    path = resolve_model("smollm2-135m")
    model = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    out["model_loaded"] = rss_mb()
    tasks, _ = read_tasks(config_dir() / "cpu-smoke" / "tasks.jsonl")
    task = next(t for t in tasks if t.task_id == "easy-reverse")
    prompt = build_messages("atgen", task, buggy_code=task.buggy_code[0])
    trainer = trl.GRPOTrainer(
        model=model,
        reward_funcs=lambda completions, **kw: [0.0] * len(completions),
        args=trl.GRPOConfig(
            output_dir="/tmp/atest-training-memory",
            use_cpu=True,
            num_generations=args.micro_batch,
            per_device_train_batch_size=args.micro_batch,
            max_completion_length=args.completion,
            beta=0.0,
            report_to="none",
            save_strategy="no",
            **{checkpointing_field(trl.GRPOConfig): args.checkpointing},
        ),
        train_dataset=datasets.Dataset.from_list([{"prompt": prompt}]),
        processing_class=tokenizer,
        peft_config=peft.LoraConfig(
            r=args.lora_rank,
            lora_alpha=2 * args.lora_rank,
            lora_dropout=0.05,
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        ),
    )
    out["trainer_built"] = rss_mb()
    policy = trainer.model
    policy.train()
    if args.checkpointing:  # what Trainer.train does when activation checkpointing is on
        policy.get_base_model().gradient_checkpointing_enable(
            gradient_checkpointing_kwargs={"use_reentrant": False}
        )
    ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, return_tensors="pt")["input_ids"]
    n = args.micro_batch
    sequences = torch.cat(
        [ids.repeat(n, 1), torch.randint(3, tokenizer.vocab_size, (n, args.completion))], dim=1
    )
    out["sequence_tokens"] = sequences.shape[1]
    saved: dict[int, int] = {}

    def keep(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        saved[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(keep, lambda t: t):
        logps, _, _ = trainer._get_per_token_logps_and_entropies(
            policy, sequences, torch.ones_like(sequences), args.completion, compute_entropy=True
        )
    out["saved_for_backward"] = sum(saved.values()) / MB
    out["after_forward"] = rss_mb()
    logps.mean().backward()
    out["after_backward"] = rss_mb()
    out["peak_loss_pass"] = peak_mb()
    out["one_full_logits_copy"] = n * sequences.shape[1] * policy.config.vocab_size * 4 / MB
    del logps
    policy.zero_grad(set_to_none=True)
    before = rss_mb()
    with torch.no_grad():
        batch = ids.repeat(n, 1)
        policy.generate(
            input_ids=batch,
            attention_mask=torch.ones_like(batch),
            max_new_tokens=args.completion,
            min_new_tokens=args.completion,
            do_sample=True,
        )
    out["generation_delta"] = rss_mb() - before
    out["peak"] = peak_mb()
    out["checkpointing"] = args.checkpointing
    print(json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in out.items()}))


if __name__ == "__main__":
    main()
