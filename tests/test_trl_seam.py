"""The seam with TRL: every GRPOTrainer method atest overrides still exists with the signature we wrote against.

A TRL release that renames or reshapes one of these private methods would otherwise
silently bypass our step timing, live ATGEN rows or checkpoint state; this fails naming it.
"""

from __future__ import annotations

import importlib.util
import inspect
import subprocess
import sys
import textwrap

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

    ours = _trainer_class(use_vllm=False)
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


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs vLLM installed")
def test_grpo_without_vllm_skips_importing_it_and_a_later_vllm_run_gets_it_back():
    """A fresh interpreter, so the import order is the one under test: a run without vLLM
    imports TRL's GRPO modules without it (about 6 CPU-seconds a process here), and a later run
    in the same process that generates with vLLM finds TRL's vLLM names in place."""
    script = textwrap.dedent(
        """
        import sys
        from atest.core.training.trainer.trl_import import grpo_trainer_class, imported_without_vllm

        first = grpo_trainer_class(use_vllm=False)
        assert "vllm" not in sys.modules and imported_without_vllm()
        trl_imports = sys.modules["trl.import_utils"]
        assert trl_imports.is_vllm_available()  # the answer is False for the import only

        second = grpo_trainer_class(use_vllm=True)
        assert second is first and not imported_without_vllm()
        import vllm
        import trl.generation.vllm_client as client
        import trl.trainer.grpo_trainer as grpo
        namespace = grpo.VLLMGeneration.__init__.__globals__  # the class GRPOTrainer holds
        assert namespace["LLM"] is vllm.LLM and namespace["is_vllm_available"] is trl_imports.is_vllm_available
        assert client._HAS_STATEFUL_TRAINER_ENGINE
        print("ok")
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]
