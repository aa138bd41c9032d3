"""`--mode sft`: UTRL's supervised baseline, the test generator fine-tuned on gold tests
(phases/sft_loop.py, TRL's SFTTrainer; no GRPO, so no batch arithmetic and no validation)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from atest.core.errors import InputError
from atest.core.training.modes.base import Mode

if TYPE_CHECKING:
    from atest.core.tasks import Task
    from atest.core.training.config import TrainConfig
    from atest.core.training.run.context import LoopContext


class Sft(Mode):
    name = "sft"
    order = 40
    test_prompt = "utrl"
    steps_key = "sft.max_steps"

    def check_inputs(self, config: TrainConfig, tasks: list[Task], use_cpu: bool) -> None:
        from atest.core.training.phases.sft_loop import check_sft_tasks

        check_sft_tasks(tasks)
        if use_cpu and config.sft.bf16:
            raise InputError("config asks for bf16 but training runs on CPU (no GPU)", "--set sft.bf16=false")

    def prompt_rows(self, config: TrainConfig, tasks: list[Task]) -> None:
        return None

    def run(self, ctx: LoopContext) -> dict[str, Path]:
        from atest.core.training.phases.sft_loop import run_sft

        return run_sft(ctx)


MODES = (Sft(),)
