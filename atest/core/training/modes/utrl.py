"""`--mode utrl`: a test generator and a code generator trained in alternation (phases/utrl_loop.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from atest.core.training.modes.base import Mode, Resolve

if TYPE_CHECKING:
    from atest.core.training.config import TrainConfig
    from atest.core.training.phases.validation import ValidationRole
    from atest.core.training.run.context import LoopContext


class Utrl(Mode):
    name = "utrl"
    order = 10
    needs: ClassVar[dict[str, str]] = {"code_model": "the code generator is trained"}
    test_grpo = True
    test_prompt = "utrl"
    steps_key = "utrl.test_steps"

    def resolve_models(self, config: TrainConfig, resolve: Resolve) -> dict[str, str]:
        assert config.code_model is not None  # check_config
        return {
            "test": resolve(config.test_model.path, "test_model.path"),
            "code": resolve(config.code_model.path, "code_model.path"),
        }

    def generation_backends(self, config: TrainConfig) -> list[str]:
        return [config.utrl.generation_backend]

    def phase_steps(self, config: TrainConfig) -> list[int]:
        from atest.core.training.config import steps_for_iteration

        iterations = range(1, config.utrl.iterations + 1)
        return [n for it in iterations for n in steps_for_iteration(config, it) if n]

    def validation_roles(self, config: TrainConfig) -> list[ValidationRole]:
        from atest.core.training.phases.validation import CODE, TEST

        return [TEST, CODE]

    def demo_overrides(self, model: str, steps: int) -> list[str]:
        return [f"code_model.path={model}", "utrl.iterations=1", f"{self.steps_key}={steps}"]

    def study_overrides(self, model: str, steps: int) -> list[str]:
        # One iteration, the test generator only: the code generator samples the opponents (the
        # base model) and is not trained, since only the test generator is evaluated.
        return [*self.demo_overrides(model, steps), "utrl.per_iteration=[{code_steps: 0}]"]

    def run(self, ctx: LoopContext) -> dict[str, Path]:
        from atest.core.training.phases.utrl_loop import run_utrl

        return run_utrl(ctx)


MODES = (Utrl(),)
