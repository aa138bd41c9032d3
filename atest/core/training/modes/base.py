"""What a training mode is: the one interface the runner, the validation and the demo ask.

A mode answers every question whose answer used to be a `mode == ...` branch somewhere: which
roles it trains, which training tasks it can use, which inputs it checks before a model
loads, how many prompts a GRPO step can draw from, which models it loads, which generation
backends it starts outside GRPO, how many steps each phase trains, how a phase is validated,
and, last, how the run goes (`run`).

A mode module stays light: the registry imports every mode to list their names for the CLI,
so the modules import the phases that do the work only inside the method that needs them.
Nothing below the modes (config, phases, the TRL seam, the run folder) imports them, so those
imports close no circle.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from atest.core.errors import InputError

if TYPE_CHECKING:
    from atest.core.tasks import Task
    from atest.core.training.config import TrainConfig
    from atest.core.training.phases.validation import ValidationRole
    from atest.core.training.run.context import LoopContext

# (model name or path, config key naming it) -> local folder; the runner's `resolve_model` with
# the existence check of a written path.
Resolve = Callable[[str, str], str]


class Mode:
    """One training mode. Subclasses set the class attributes and override what differs."""

    name: str = ""
    order: int = 0  # its place in listings (`--help`, error messages)
    # Config sections this mode must have beyond test_model, which every mode has: section -> why.
    needs: ClassVar[dict[str, str]] = {}
    # Trains the test generator with GRPO: the modes the demo shows.
    test_grpo: bool = False
    # The gen-tests prompt of the test generator it trains (`gen-tests --prompt`, the demo).
    test_prompt: str = "atgen"
    # The config key holding the steps of its (first) GRPO phase: what the demo sets.
    steps_key: str = ""

    def check_config(self, config: TrainConfig, source: str) -> None:
        """The sections this mode reads must be there (a config file may lack `code_model`)."""
        for section, why in self.needs.items():
            if getattr(config, section) is None:
                raise InputError(f"{source}: mode {self.name} needs a '{section}' section ({why})")

    def select_tasks(self, tasks: list[Task], path: Path) -> tuple[list[Task], list[str]]:
        """The tasks this mode can train on out of those with a gold solution, with a note for
        each kind dropped; an error when none is left."""
        return tasks, []

    def check_inputs(self, config: TrainConfig, tasks: list[Task], use_cpu: bool) -> None:
        """The mode's own inputs (a tests file, held-out tasks), checked before any model loads."""

    def prompt_rows(self, config: TrainConfig, tasks: list[Task]) -> int | None:
        """The rows of its GRPO dataset (a step draws `grpo.prompts_per_step` of them); None when
        the mode does not train with GRPO, so the GRPO batch arithmetic is not checked."""
        return len(tasks)

    def resolve_models(self, config: TrainConfig, resolve: Resolve) -> dict[str, str]:
        """Role -> local model folder (or API model name) for every model the run loads."""
        return {"test": resolve(config.test_model.path, "test_model.path")}

    def generation_backends(self, config: TrainConfig) -> list[str]:
        """The generation backends it starts outside GRPO (opponents, tests, adversarial code)."""
        return []

    def phase_steps(self, config: TrainConfig) -> list[int]:
        """The step count of every GRPO phase it trains (what `validation.select: step N` must reach)."""
        return []

    def validation_roles(self, config: TrainConfig) -> list[ValidationRole]:
        """How its phases are validated: the prompt and score of each role it trains with GRPO."""
        return []

    def demo_overrides(self, model: str, steps: int) -> list[str]:
        """`--set` items beside `steps_key` that a short demo run of this mode needs."""
        return [f"{self.steps_key}={steps}"]

    def study_overrides(self, model: str, steps: int) -> list[str]:
        """`--set` items for a held-out study's run of this mode (`atest reproduce`): the demo's,
        unless the mode trains a role the study does not evaluate."""
        return self.demo_overrides(model, steps)

    def run(self, ctx: LoopContext) -> dict[str, Path]:
        """Train, export, and return role -> exported model folder."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<mode {self.name}>"


def keep_tasks(
    tasks: list[Task], has: Callable[[Task], bool], what: str, path: Path, hint: str, notes: list[str]
) -> list[Task]:
    """The tasks that have `what`; a note when some are dropped, bad input when none is left."""
    kept = [t for t in tasks if has(t)]
    if not kept:
        raise InputError(f"{path}: no task has {what}", hint)
    if len(kept) < len(tasks):
        notes.append(f"{len(tasks) - len(kept)} task(s) without {what} skipped")
    return kept
