"""`--mode codegen`: GRPO on a code generator against generated tests (phases/codegen_loop.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from atest.core.training.modes.base import Mode, Resolve

if TYPE_CHECKING:
    from atest.core.tasks import Task
    from atest.core.training.config import TrainConfig
    from atest.core.training.phases.validation import ValidationRole
    from atest.core.training.run.context import LoopContext


class Codegen(Mode):
    name = "codegen"
    order = 30
    needs: ClassVar[dict[str, str]] = {"code_model": "the code generator is trained"}

    def check_inputs(self, config: TrainConfig, tasks: list[Task], use_cpu: bool) -> None:
        from atest.core.training.phases.codegen_loop import check_codegen_inputs

        check_codegen_inputs(config, tasks)

    def resolve_models(self, config: TrainConfig, resolve: Resolve) -> dict[str, str]:
        assert config.code_model is not None  # check_config
        dirs = {}
        if config.codegen.tests is None:  # else no test model runs: the tests come from the file
            dirs["test"] = resolve(config.test_model.path, "test_model.path")
        dirs["code"] = resolve(config.code_model.path, "code_model.path")
        return dirs

    def generation_backends(self, config: TrainConfig) -> list[str]:
        return [config.utrl.generation_backend]

    def phase_steps(self, config: TrainConfig) -> list[int]:
        return [config.utrl.code_steps]

    def validation_roles(self, config: TrainConfig) -> list[ValidationRole]:
        from atest.core.training.phases.validation import CODE

        return [CODE]

    def run(self, ctx: LoopContext) -> dict[str, Path]:
        from atest.core.training.phases.codegen_loop import run_codegen

        return run_codegen(ctx)


MODES = (Codegen(),)
