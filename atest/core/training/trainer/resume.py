"""Resuming a transformers Trainer (TRL's GRPO and SFT trainers) from a complete checkpoint.

transformers' training loop checks whether to stop only after a step, and enters the epoch
again whenever `max_steps` is not a whole number of epochs. So a trainer resumed from the
checkpoint of its last step trains one more step: a run killed after that checkpoint was written
but before its phase's model was saved came back with step `max_steps + 1` logged and trained
(found by bench/chaos.py once its kills landed inside checkpoint writes). `train_phase` resumes
through the trainer's own loading (weights, adapter, optimizer, DeepSpeed/FSDP states alike)
and, when the checkpoint is the last step's, stops there, before any step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class _AlreadyTrained(Exception):
    """Raised inside `Trainer.train`, after the checkpoint is loaded, when it is the last step's."""


def _stop_before_a_step_past_the_end() -> Any:
    from transformers import TrainerCallback

    class StopBeforeAStepPastTheEnd(TrainerCallback):
        # on_train_begin runs after the trainer loaded the checkpoint and before the first step
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.max_steps > 0 and state.global_step >= state.max_steps:
                raise _AlreadyTrained

    return StopBeforeAStepPastTheEnd()


def train_phase(trainer: Any, checkpoint: Path | None) -> None:
    """`trainer.train()`, resumed from `checkpoint` when there is one, never past `max_steps`.

    Afterwards `trainer.model` holds the trained weights and `trainer.state.global_step` the
    steps done, whether the loop ran or the checkpoint already held the last step."""
    if checkpoint is None:
        trainer.train()
        return
    guard = _stop_before_a_step_past_the_end()
    trainer.add_callback(guard)
    try:
        trainer.train(resume_from_checkpoint=str(checkpoint))
    except _AlreadyTrained:
        pass
    finally:
        trainer.remove_callback(guard)
