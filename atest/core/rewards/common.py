"""The result every reward returns.

The mechanics rewards share (batched runs, the verdict, the gold program, usable tests) live
in `atest.core.checking`; reward modules hold their formulas.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RewardResult:
    """One response's reward and the terms it was made of (logged as their batch means)."""

    score: float
    components: dict[str, float] = field(default_factory=dict)
