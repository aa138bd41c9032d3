"""The rewards of both papers, batched over a whole generation batch (see docs/rewards.md)."""

from atest.core.checking import MAX_INPUT_CHARS
from atest.core.rewards.atgen import AtgenItem, AtgenOutcome, judge_atgen, score_atgen
from atest.core.rewards.common import RewardResult
from atest.core.rewards.utrl import (
    UtrlCodeItem,
    UtrlRewardConfig,
    UtrlTestItem,
    score_utrl_code,
    score_utrl_tests,
)

__all__ = [
    "MAX_INPUT_CHARS",
    "AtgenItem",
    "AtgenOutcome",
    "RewardResult",
    "UtrlCodeItem",
    "UtrlRewardConfig",
    "UtrlTestItem",
    "judge_atgen",
    "score_atgen",
    "score_utrl_code",
    "score_utrl_tests",
]
