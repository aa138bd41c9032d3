"""Our rewards as TRL reward functions.

TRL calls each reward function once per generation batch with the prompts, the completions
and every dataset column as keyword lists (one entry per completion). Each wrapper here
turns those columns back into reward items, scores the whole batch with one batched call
into `atest.core.rewards` (the programs run in the sandbox's worker processes, not in the
trainer), reports the mean of each reward component through TRL's `log_metric` (so they
reach the console, metrics.jsonl and `report_to`), and returns the scores.

Static task data (statement, gold solution, gold tests) is looked up by `task_id`; what
changes during a run (opponents, valid tests, the live buggy code) travels in columns.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from atest.core.rewards import UtrlRewardConfig
from atest.core.sandbox import Executor, Limits
from atest.core.tasks import Task
from atest.core.training.phases.adversary import AdversarialState, Observation


def completion_text(completion: Any) -> str:
    """The text of a TRL completion: a string, or a conversational list ending with the assistant turn."""
    if isinstance(completion, str):
        return completion
    return "".join(str(m.get("content", "")) for m in completion if m.get("role", "assistant") == "assistant")


def log_means(log_metric: Callable[[str, float], None] | None, prefix: str, results: Sequence[Any]) -> None:
    if log_metric is None or not results:
        return
    names = sorted({name for r in results for name in r.components})
    for name in names:
        values = [float(r.components[name]) for r in results if name in r.components]
        log_metric(f"{prefix}/{name}", sum(values) / len(values))


class _RewardFn:
    """A named callable: TRL reports each reward function under its `__name__`."""

    __name__ = "reward"

    def __init__(self, tasks_by_id: dict[str, Task], executor: Executor, limits: Limits):
        self.tasks_by_id = tasks_by_id
        self.executor = executor
        self.limits = limits

    def tasks(self, task_ids: Sequence[str]) -> list[Task]:
        return [self.tasks_by_id[t] for t in task_ids]


class UtrlTestReward(_RewardFn):
    """UTRL's discrimination reward for the test generator, against the opponents column."""

    __name__ = "utrl_test"

    def __init__(
        self, tasks_by_id: dict[str, Task], executor: Executor, config: UtrlRewardConfig, limits: Limits
    ):
        super().__init__(tasks_by_id, executor, limits)
        self.config = config

    def __call__(
        self,
        prompts: list,
        completions: list,
        task_id: list[str],
        opponents: list[list[str]],
        log_metric: Callable[[str, float], None] | None = None,
        **kwargs: Any,
    ) -> list[float]:
        from atest.core.rewards import UtrlTestItem, score_utrl_tests

        items = [
            UtrlTestItem(task=task, response=completion_text(c), opponents=list(opps))
            for task, c, opps in zip(self.tasks(task_id), completions, opponents, strict=True)
        ]
        # The opponents column is already without correct codes when the section asks so (the
        # opponents phase drops them once), hence no per-step exclusion here.
        results = score_utrl_tests(self.executor, items, self.config, limits=self.limits)
        log_means(log_metric, self.__name__, results)
        return [r.score for r in results]


class UtrlCodeReward(_RewardFn):
    """UTRL's code-generator reward: pass rate on the valid generated tests of the `tests_json` column."""

    __name__ = "utrl_code"

    def __init__(
        self, tasks_by_id: dict[str, Task], executor: Executor, config: UtrlRewardConfig, limits: Limits
    ):
        super().__init__(tasks_by_id, executor, limits)
        self.config = config

    def __call__(
        self,
        prompts: list,
        completions: list,
        task_id: list[str],
        tests_json: list[str],
        log_metric: Callable[[str, float], None] | None = None,
        **kwargs: Any,
    ) -> list[float]:
        from atest.core.rewards import UtrlCodeItem, score_utrl_code

        items = [
            UtrlCodeItem(task=task, response=completion_text(c), tests=json.loads(tests))
            for task, c, tests in zip(self.tasks(task_id), completions, tests_json, strict=True)
        ]
        results = score_utrl_code(self.executor, items, self.config, limits=self.limits)
        log_means(log_metric, self.__name__, results)
        return [r.score for r in results]


class AtgenReward(_RewardFn):
    """ATGEN's reward (format + IO accuracy + attack) against the live buggy code of each row.

    It also reports each completion's outcome to the adversarial state, which decides after
    the step which bugs the policy has caught.
    """

    __name__ = "atgen"

    def __init__(
        self, tasks_by_id: dict[str, Task], executor: Executor, state: AdversarialState, limits: Limits
    ):
        super().__init__(tasks_by_id, executor, limits)
        self.state = state

    def __call__(
        self,
        prompts: list,
        completions: list,
        task_id: list[str],
        slot: list[int],
        buggy_code: list[str],
        on_current: list[bool],
        log_metric: Callable[[str, float], None] | None = None,
        **kwargs: Any,
    ) -> list[float]:
        from atest.core.rewards import AtgenItem, judge_atgen

        items = [
            AtgenItem(task=t, response=completion_text(c), buggy_code=b)
            for t, c, b in zip(self.tasks(task_id), completions, buggy_code, strict=True)
        ]
        outcomes = judge_atgen(self.executor, items, limits=self.limits)
        results = [o.result for o in outcomes]
        observations = [
            Observation(int(s), bool(current), o.test, o.verdict.io_accurate, o.verdict.attack)
            for o, s, current in zip(outcomes, slot, on_current, strict=True)
        ]
        self.state.observe(observations)
        log_means(log_metric, self.__name__, results)
        if log_metric is not None and observations:
            log_metric("atgen/accuracy_rate", sum(o.accurate for o in observations) / len(observations))
            log_metric("atgen/attack_rate", sum(o.attacks for o in observations) / len(observations))
        return [r.score for r in results]
