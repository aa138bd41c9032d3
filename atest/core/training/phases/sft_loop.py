"""`train --mode sft`: UTRL's supervised baseline, the test generator fine-tuned on gold tests.

UTRL compares its RL-trained test generator with one fine-tuned on the tasks' gold tests
(their `sft_train_testgen.py`, TRL's SFTTrainer). The targets here are gold tests written
in the UTRL response format (a reasoning block, then the fenced `Input:` / `Output:` test),
so the baseline and the RL run share prompt, parser and evaluation. The run folder has the
same layout as the RL modes: `sft/train/checkpoints/`, `sft/train/model/`, and the export in
`final/test_generator/`; a killed run resumes from its latest complete checkpoint.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

from atest.core.errors import InputError
from atest.core.tasks import Task
from atest.core.training.run.context import LoopContext
from atest.core.training.run.export import export_role
from atest.core.training.run.run_dir import latest_checkpoint, remove_incomplete_checkpoints, replace_dir
from atest.core.training.trainer.compat import allow_indexed_cpu_locations, checkpointing_field
from atest.core.training.trainer.grpo import build_peft_config, load_tokenizer, torch_dtype
from atest.core.training.trainer.resume import train_phase
from atest.core.training.warmup import utrl_example

PHASE = "sft/train"


def sft_examples(tasks: list[Task], n_tests: int, targets: str = "plain") -> list[dict[str, Any]]:
    """One prompt/completion pair per task that has gold tests."""
    return [e for t in tasks if (e := utrl_example(t, n_tests, targets)) is not None]


def check_sft_tasks(tasks: list[Task]) -> None:
    if not any(t.gold_tests for t in tasks):
        raise InputError("mode sft: no training task has gold tests", "the targets are the gold tests")


def run_sft(ctx: LoopContext) -> dict[str, Path]:
    out = ctx.run.phase_dir(PHASE)
    if not ctx.run.is_done(PHASE):
        model_dir, steps = _train(ctx, out)
        ctx.mark_done(PHASE, model=ctx.rel(model_dir), steps=steps)
    model_dir = ctx.run.root / ctx.run.phase_info(PHASE)["model"]
    return {"test_generator": export_role(ctx, "test_generator", model_dir, ctx.base_dirs["test"])}


def _train(ctx: LoopContext, out: Path) -> tuple[Path, int]:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import SFTTrainer

    cfg = ctx.config
    examples = sft_examples(ctx.tasks, cfg.sft.n_tests, cfg.sft.targets)
    ctx.on_event(f"{PHASE}: supervised fine-tuning on {len(examples)} gold-test responses")
    checkpoints = out / "checkpoints"
    remove_incomplete_checkpoints(checkpoints)
    resume_from = latest_checkpoint(checkpoints)
    base = ctx.base_dirs["test"]
    tokenizer = load_tokenizer(base)
    tokenizer.padding_side = "right"  # training pads on the right; generation is not done here
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch_dtype(cfg.test_model, ctx.use_cpu))
    trainer = SFTTrainer(
        model=model,
        args=_sft_args(cfg, checkpoints, ctx.use_cpu),
        train_dataset=Dataset.from_list(examples),
        processing_class=tokenizer,
        peft_config=build_peft_config(cfg.test_model.lora),
        callbacks=[_metrics_callback(ctx)],
    )
    with contextlib.redirect_stdout(sys.stderr):  # the trainer prints; stdout is for --json
        allow_indexed_cpu_locations()
        train_phase(trainer, resume_from)
    tmp = out / ".model.tmp"
    trainer.save_model(str(tmp))
    tokenizer.save_pretrained(tmp)
    replace_dir(tmp, out / "model")
    return out / "model", int(trainer.state.global_step)


def _sft_args(cfg: Any, output_dir: Path, use_cpu: bool) -> Any:
    from trl import SFTConfig

    sft = cfg.sft
    try:
        return SFTConfig(
            output_dir=str(output_dir),
            num_train_epochs=sft.epochs,
            max_steps=sft.max_steps if sft.max_steps is not None else -1,
            per_device_train_batch_size=sft.per_device_train_batch_size,
            gradient_accumulation_steps=sft.gradient_accumulation_steps,
            learning_rate=sft.learning_rate,
            lr_scheduler_type=sft.lr_scheduler_type,
            warmup_steps=sft.warmup_steps,
            weight_decay=sft.weight_decay,
            max_length=sft.max_length,
            completion_only_loss=sft.completion_only_loss,
            bf16=sft.bf16,
            **{checkpointing_field(SFTConfig): sft.gradient_checkpointing},
            logging_steps=sft.logging_steps,
            save_strategy="steps",
            save_steps=sft.save_steps,
            save_total_limit=sft.save_total_limit,
            report_to=list(sft.report_to) or "none",
            use_cpu=use_cpu,
            seed=cfg.seed,
            disable_tqdm=True,
        )
    except (ValueError, TypeError) as exc:
        raise InputError(f"invalid SFT settings: {str(exc).splitlines()[0]}") from exc


def _metrics_callback(ctx: LoopContext) -> Any:
    """Each logged step (loss, learning rate, ...) to metrics.jsonl and the console."""
    from transformers import TrainerCallback

    class _Log(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if state.is_world_process_zero and logs and "loss" in logs:
                row = {"phase": PHASE, "step": state.global_step, "max_steps": state.max_steps}
                ctx.on_metrics({**row, **{k: v for k, v in logs.items() if isinstance(v, int | float)}})

    return _Log()
