"""The three ATGEN modes: one GRPO run of the test generator on (task, buggy code) slots
(phases/atgen_loop.py); they differ only in the rule that picks the slots whose bug the
adversary replaces after a step (phases/adversary.py applies it):

- `atgen-static`: never (the paper's "w/o Adver"); no adversary is loaded.
- `atgen-unconditional`: every slot seen this step.
- `atgen-adaptive`: the slots whose current bug the group already catches.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from atest.core.errors import InputError
from atest.core.training.modes.base import Mode, Resolve, keep_tasks

if TYPE_CHECKING:
    from atest.core.tasks import Task
    from atest.core.training.config import TrainConfig
    from atest.core.training.phases.adversary import Observation
    from atest.core.training.phases.validation import ValidationRole
    from atest.core.training.run.context import LoopContext


class Atgen(Mode):
    test_grpo = True
    test_prompt = "atgen"
    steps_key = "atgen.max_steps"
    adversarial = True  # an adversary replaces caught bugs (it needs gold tests and a model)

    def due(self, by_slot: dict[int, list[Observation]], caught: list[int]) -> list[int]:
        """The slots to resample after a step (`AdversarialState.decide` calls it)."""
        raise NotImplementedError

    def select_tasks(self, tasks: list[Task], path: Path) -> tuple[list[Task], list[str]]:
        notes: list[str] = []
        hint = "ATGEN needs bugs: run `atest prepare --mutants K`"
        tasks = keep_tasks(tasks, lambda t: bool(t.buggy_code), "buggy_code", path, hint, notes)
        if self.adversarial:
            hint = "the adversary checks that its code fails the gold tests"
            tasks = keep_tasks(tasks, lambda t: bool(t.gold_tests), "gold tests", path, hint, notes)
        return tasks, notes

    def prompt_rows(self, config: TrainConfig, tasks: list[Task]) -> int:
        return sum(len(t.buggy_code[: config.atgen.buggy_per_task]) for t in tasks)

    def resolve_models(self, config: TrainConfig, resolve: Resolve) -> dict[str, str]:
        dirs = {"test": resolve(config.test_model.path, "test_model.path")}
        if not self.adversarial:
            return dirs
        adv = config.atgen.adversary
        if adv.backend == "openai":
            if adv.model is None:
                raise InputError(
                    "atgen.adversary.model is required with the openai backend (e.g. gpt-4o-mini)"
                )
            if adv.base_url is None and not os.environ.get(adv.api_key_env):
                raise InputError(
                    f"the adversary uses the OpenAI API but ${adv.api_key_env} is not set",
                    "export it, or point atgen.adversary.base_url at your own server",
                )
            dirs["adversary"] = adv.model
        else:
            dirs["adversary"] = resolve(adv.model, "atgen.adversary.model") if adv.model else dirs["test"]
        return dirs

    def generation_backends(self, config: TrainConfig) -> list[str]:
        return [config.atgen.adversary.backend] if self.adversarial else []

    def phase_steps(self, config: TrainConfig) -> list[int]:
        return [config.atgen.max_steps]

    def validation_roles(self, config: TrainConfig) -> list[ValidationRole]:
        from atest.core.training.phases.validation import ATGEN

        return [ATGEN]

    def run(self, ctx: LoopContext) -> dict[str, Path]:
        from atest.core.training.phases.atgen_loop import run_atgen

        return run_atgen(ctx, self.due, self.adversarial)


class Static(Atgen):
    name = "atgen-static"
    order = 20
    adversarial = False

    def due(self, by_slot: dict[int, list[Observation]], caught: list[int]) -> list[int]:
        return []


class Unconditional(Atgen):
    name = "atgen-unconditional"
    order = 21

    def due(self, by_slot: dict[int, list[Observation]], caught: list[int]) -> list[int]:
        return sorted(by_slot)


class Adaptive(Atgen):
    name = "atgen-adaptive"
    order = 22

    def due(self, by_slot: dict[int, list[Observation]], caught: list[int]) -> list[int]:
        return sorted(caught)


MODES = (Static(), Unconditional(), Adaptive())
