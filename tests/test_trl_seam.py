"""The seam with TRL: every GRPOTrainer method atest overrides still exists with the signature we wrote against.

A TRL release that renames or reshapes one of these private methods would otherwise
silently bypass our step timing, live ATGEN rows or checkpoint state; this fails naming it.
"""

from __future__ import annotations

import inspect

import pytest

# The parameters (after self) of each TRL method AtestGRPOTrainer overrides, as of trl 1.16.
WRITTEN_AGAINST = {
    "_generate": ["prompts"],
    "_calculate_rewards": ["inputs", "prompts", "completions", "completion_ids_list"],
    "_generate_and_score_completions": ["inputs"],
    "_save_checkpoint": ["model", "trial"],
    "log": ["logs", "start_time"],
}


def _overridden() -> list[str]:
    from trl import GRPOTrainer

    from atest.core.training.trainer.grpo import _trainer_class

    ours = _trainer_class()
    return sorted(
        name
        for name, value in vars(ours).items()
        if callable(value) and name != "__init__" and hasattr(GRPOTrainer, name)
    )


def test_every_override_is_listed():
    assert _overridden() == sorted(WRITTEN_AGAINST)


@pytest.mark.parametrize("name", sorted(WRITTEN_AGAINST))
def test_trl_still_has_the_method_we_override(name):
    from trl import GRPOTrainer

    method = getattr(GRPOTrainer, name, None)
    assert method is not None, f"trl.GRPOTrainer.{name} is gone: atest's override of it no longer runs"
    params = list(inspect.signature(method).parameters)[1:]
    assert params == WRITTEN_AGAINST[name], (
        f"trl.GRPOTrainer.{name}{inspect.signature(method)} changed; atest overrides it as "
        f"({', '.join(WRITTEN_AGAINST[name])})"
    )


def test_installed_trl_is_in_the_pinned_range():
    from importlib.metadata import requires, version

    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet

    pinned = next(Requirement(r) for r in requires("atest") or [] if r.startswith("trl"))
    assert SpecifierSet(str(pinned.specifier)).contains(version("trl")), (pinned, version("trl"))
