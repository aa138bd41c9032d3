"""What every generation backend takes and returns, independent of the engine behind it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

from atest.core.errors import InputError


@dataclass
class SamplingParams:
    """Sampling settings shared by all backends; temperature 0 means greedy decoding."""

    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 512
    n: int = 1
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise InputError(f"temperature {self.temperature} is negative", "use 0 for greedy decoding")
        if not 0 < self.top_p <= 1:
            raise InputError(f"top_p {self.top_p} is outside (0, 1]")
        if self.max_new_tokens < 1:
            raise InputError(f"max_new_tokens {self.max_new_tokens} must be at least 1")
        if self.n < 1:
            raise InputError(f"n {self.n} must be at least 1")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Completion:
    """One sampled answer. A request that failed is `Completion("", 0, "error", message)`, so a
    failure can never be mistaken for an empty answer."""

    text: str
    n_tokens: int
    finish_reason: str  # "stop" (end of turn), "length" (hit max_new_tokens), "error"
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @classmethod
    def failed(cls, message: str) -> Completion:
        return cls("", 0, "error", message)


Messages = list[dict[str, str]]


class Generator(Protocol):
    """A loaded model behind any backend: `n` completions for each chat prompt, in prompt order."""

    def generate(self, prompts: list[Messages], params: SamplingParams) -> list[list[Completion]]: ...

    def close(self) -> None: ...
