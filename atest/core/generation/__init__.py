"""One generation interface over three engines: transformers in-process, an OpenAI-compatible
server, and the vLLM offline engine. Callers build chat messages; a backend renders, samples and
returns `n` Completions per prompt, failures marked as such."""

from __future__ import annotations

from typing import Any

from atest.core.errors import InputError
from atest.core.generation.params import Completion, Generator, Messages, SamplingParams

BACKENDS = ("hf", "openai", "vllm")

__all__ = ["BACKENDS", "Completion", "Generator", "Messages", "SamplingParams", "make_generator"]


def make_generator(backend: str, model: str, *, adapter: str | None = None, **opts: Any) -> Generator:
    """Load `model` behind `backend`. Options a backend does not take are an InputError, so a typo
    in a config never silently changes nothing."""
    if backend == "hf":
        from atest.core.generation.hf import HFGenerator

        factory: Any = HFGenerator
    elif backend == "openai":
        from atest.core.generation.openai_backend import OpenAIGenerator

        factory = OpenAIGenerator
    elif backend == "vllm":
        from atest.core.generation.vllm_backend import VLLMGenerator

        factory = VLLMGenerator
    else:
        raise InputError(f"unknown backend {backend!r}", f"choose one of: {', '.join(BACKENDS)}")
    try:
        return factory(model, adapter=adapter, **opts)
    except TypeError as exc:
        if "unexpected keyword argument" in str(exc):
            raise InputError(f"backend {backend!r}: {exc}") from exc
        raise
