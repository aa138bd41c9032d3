"""The one failure policy of resumable generation: a failed unit is retried, then reported.

A unit (one prompt and its `n` completions) fails when any of its completions is a failed
request. `generate_retrying` asks the failed prompts again, up to `retries` times; what still
fails comes back with its failed completions, and the resumable loops (`gentests.run_units`,
the training phases' `sampling.sample_resumable`) then leave that unit unwritten, so a rerun
resumes it, and report it (`first_failure`): never written with fewer completions, never
dropped silently.
"""

from __future__ import annotations

from collections.abc import Sequence

from atest.core.errors import ExternalError
from atest.core.generation.params import Completion, Generator, Messages, SamplingParams

RETRIES = 1


def first_failure(completions: Sequence[Completion]) -> str | None:
    """The error of the unit's first failed completion, or None when every one succeeded."""
    return next((c.error for c in completions if not c.ok), None)


def generate_retrying(
    generator: Generator, prompts: Sequence[Messages], params: SamplingParams, *, retries: int = RETRIES
) -> list[list[Completion]]:
    """Each prompt's completions, a prompt whose completions failed asked again up to `retries` times."""
    results = _generate(generator, prompts, params)
    for _ in range(retries):
        again = [i for i, completions in enumerate(results) if first_failure(completions) is not None]
        if not again:
            break
        for i, completions in zip(
            again, _generate(generator, [prompts[i] for i in again], params), strict=True
        ):
            results[i] = completions
    return results


def _generate(
    generator: Generator, prompts: Sequence[Messages], params: SamplingParams
) -> list[list[Completion]]:
    results = [list(r) for r in generator.generate(list(prompts), params)]
    if len(results) != len(prompts):
        raise ExternalError(f"the backend returned {len(results)} results for {len(prompts)} prompts")
    return results
