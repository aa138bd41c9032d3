"""Format warm-up: a few supervised steps that teach a small model the test format before RL.

GRPO learns only from reward differences inside a group. A model that never writes a
parseable test gets the same reward for every completion and no gradient at all:
SmolLM2-135M, our embedded CPU model, wrote 0 parseable tests in 32 samples per template.
The 4B-7B instruction-tuned models of the papers follow the format out of the box and need
no warm-up; small models do (the usual "cold start" before RL).

The targets come from the training tasks' own gold tests (for the `atgen` template, a gold
test the buggy code fails, found in the sandbox), so warm up on training tasks only, never
on the tasks you evaluate on. TRL's SFTTrainer does the training, with the loss on the
completion only.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atest.core.checking import Batch, Test, completed, input_size, passes, program
from atest.core.cpu import has_gpu
from atest.core.errors import InputError
from atest.core.prompts import build_messages, render_test, render_value
from atest.core.sandbox import Execution, Executor, Limits
from atest.core.tasks import Task

TEMPLATES = ("utrl-test", "atgen")
# What a target's reasoning holds. `plain`: a fixed sentence, and the first gold test(s).
# `worked`: the simplest gold tests (shortest input first) and a reasoning line that states the
# outputs (ATGEN: what the shown code prints against what a correct solution prints), so the
# model is taught to pick inputs whose output it can work out and to write that work down.
TARGETS = ("plain", "worked")
UTRL_REASONING = "A case taken from the problem's own tests; a correct solution gives this output."
ATGEN_REASONING = "The code above gives a wrong answer on this input; a correct solution gives this output."
N_TESTS = 4  # gold tests in a utrl target: a response of 4 short tests fits ~200 tokens (docs/reproduce.md)


@dataclass(frozen=True)
class WarmupOptions:
    template: str = "utrl-test"
    steps: int = 30
    learning_rate: float = 5e-5
    batch_size: int = 4
    max_length: int = 2048
    n_tests: int = N_TESTS
    targets: str = "plain"
    seed: int = 0

    def __post_init__(self) -> None:
        """Refused when built, i.e. before any task is run or model loaded."""
        if self.template not in TEMPLATES:
            raise InputError(f"warm-up template {self.template!r}: use one of {', '.join(TEMPLATES)}")
        if self.targets not in TARGETS:
            raise InputError(f"--targets {self.targets!r}: use one of {', '.join(TARGETS)}")


@dataclass
class WarmupSummary:
    out: Path
    n_examples: int
    steps: int
    loss_first: float
    loss_last: float


def _inline(value: Any, kind: str) -> str:
    """A test value on one line, for a reasoning sentence (stdio lines joined by " | ")."""
    return " | ".join(render_value(value, kind).splitlines()) or "(empty)"


def _simplicity(test: dict[str, Any]) -> int:
    """What `worked` targets prefer: the shortest input (ties keep the task's order)."""
    return input_size(test["input"])


def _gives(kind: str) -> str:
    return "prints" if kind == "stdio" else "returns"


def _worked_utrl(test: dict[str, Any], kind: str) -> str:
    return f"On input {_inline(test['input'], kind)} a correct solution {_gives(kind)} {_inline(test['output'], kind)}."


def _worked_atgen(test: dict[str, Any], buggy: Execution, kind: str) -> str:
    if completed(buggy):
        wrong = f"the code above {_gives(kind)} {_inline(buggy.output, kind)}"
    else:
        wrong = "the code above does not finish normally"
    return (
        f"On input {_inline(test['input'], kind)} {wrong}, but a correct solution {_gives(kind)} "
        f"{_inline(test['output'], kind)}."
    )


def utrl_example(task: Task, n_tests: int, targets: str = "plain") -> dict[str, Any] | None:
    tests = (sorted(task.gold_tests, key=_simplicity) if targets == "worked" else task.gold_tests)[:n_tests]
    if not tests:
        return None
    body = "\n".join(
        f"<reasoning>{_worked_utrl(t, task.kind) if targets == 'worked' else UTRL_REASONING}</reasoning>\n"
        f"{render_test(t, task.kind)}"
        for t in tests
    )
    return {
        "prompt": build_messages("utrl-test", task, n_tests=n_tests),
        "completion": [{"role": "assistant", "content": body}],
    }


def atgen_examples(
    tasks: Sequence[Task], executor: Executor, limits: Limits, targets: str = "plain"
) -> list[dict[str, Any]]:
    """One example per (task, buggy code): a gold test the buggy code fails (`plain`: the
    first; `worked`: the one with the shortest input, its reasoning naming both outputs)."""
    pairs = [(t, code) for t in tasks for code in t.buggy_code if t.gold_tests]
    batch = Batch(limits)
    slots = [[batch.add(program(t, code), test["input"]) for test in t.gold_tests] for t, code in pairs]
    batch.run(executor)
    examples = []
    for (task, code), row in zip(pairs, slots, strict=True):
        failing = [
            (test, batch[slot])
            for test, slot in zip(task.gold_tests, row, strict=True)
            if not passes(batch[slot], test=Test.from_dict(test), kind=task.kind)
        ]
        if not failing:
            continue
        if targets == "worked":
            test, run = min(failing, key=lambda pair: _simplicity(pair[0]))
            reasoning = _worked_atgen(test, run, task.kind)
        else:
            test, reasoning = failing[0][0], ATGEN_REASONING
        body = f"<reasoning>{reasoning}</reasoning>\n{render_test(test, task.kind)}"
        examples.append(
            {
                "prompt": build_messages("atgen", task, buggy_code=code),
                "completion": [{"role": "assistant", "content": body}],
            }
        )
    return examples


def build_examples(
    tasks: Sequence[Task], options: WarmupOptions, executor: Executor, limits: Limits
) -> list[dict[str, Any]]:
    if options.template == "atgen":
        examples = atgen_examples(tasks, executor, limits, options.targets)
        hint = "tasks need buggy_code (atest prepare --mutants K) and gold tests it fails"
    else:
        examples = [e for t in tasks if (e := utrl_example(t, options.n_tests, options.targets)) is not None]
        hint = "tasks need gold tests"
    if not examples:
        raise InputError("no warm-up example could be built from these tasks", hint)
    return examples


def check_lengths(tokenizer: Any, examples: Sequence[dict[str, Any]], max_length: int) -> None:
    """Refuse, before training, a --max-length that leaves no example a completion token: the
    trainer cuts each sequence at max_length, and one whose prompt fills it has nothing to
    learn (TRL then drops it, and with every one dropped fails deep inside torch's sampler)."""
    from atest.core.generation.hf import render_chat

    prompt_lengths = [
        len(tokenizer(render_chat(tokenizer, e["prompt"]), add_special_tokens=False)["input_ids"])
        for e in examples
    ]
    cut = sum(n >= max_length for n in prompt_lengths)
    if cut == len(examples):
        raise InputError(
            f"every warm-up prompt is at least --max-length {max_length} tokens long (the shortest is "
            f"{min(prompt_lengths)}): no example keeps a completion token",
            f"raise --max-length above {max(prompt_lengths) + 64} to keep every example whole",
        )
    if cut:
        print(
            f"warning: {cut} of {len(examples)} warm-up prompts are at least --max-length {max_length} "
            "tokens long and are left out",
            file=sys.stderr,
        )


def run_warmup(
    model: str, examples: list[dict[str, Any]], out: Path, options: WarmupOptions
) -> WarmupSummary:
    """Fine-tune `model` on `examples` and save it (with its tokenizer) to `out`, atomically."""
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    cuda = has_gpu()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        config = SFTConfig(
            output_dir=str(work / "trainer"),
            max_steps=options.steps,
            per_device_train_batch_size=options.batch_size,
            learning_rate=options.learning_rate,
            lr_scheduler_type="constant",
            logging_steps=1,
            save_strategy="no",
            report_to=[],
            use_cpu=not cuda,
            bf16=cuda,
            max_length=options.max_length,
            completion_only_loss=True,
            seed=options.seed,
            disable_tqdm=True,
        )
        tokenizer = AutoTokenizer.from_pretrained(model)
        check_lengths(tokenizer, examples, options.max_length)
        trainer = SFTTrainer(
            model=model, args=config, train_dataset=Dataset.from_list(examples), processing_class=tokenizer
        )
        with contextlib.redirect_stdout(sys.stderr):  # the trainer prints its logs; stdout is for --json
            trainer.train()
        losses = [row["loss"] for row in trainer.state.log_history if "loss" in row]
        final = work / "model"
        trainer.model.save_pretrained(final)
        tokenizer.save_pretrained(final)
        if out.exists():
            shutil.rmtree(out)
        final.rename(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return WarmupSummary(out, len(examples), options.steps, float(losses[0]), float(losses[-1]))
