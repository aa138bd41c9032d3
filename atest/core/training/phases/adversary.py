"""ATGEN's adversarial curriculum: the live buggy code per training slot, its replay pool, and the rules
that decide when the adversarial code sampler replaces it.

A slot is one (task, initial buggy code) pair, a row of the GRPO dataset. The buggy code a
slot shows is read at generation time and stays fixed for the whole group and step; the
reward function reports what the policy's tests did against it; after the step the mode's
rule (`Atgen.due` in `modes/atgen.py`) picks the slots to resample:

- `atgen-static`: never (the paper's "w/o Adver").
- `atgen-unconditional`: every slot seen this step, once `start_adver_steps` steps are done.
- `atgen-adaptive`: only slots whose current bug the policy already catches: at least
  `catch_fraction` of the group's tests have a correct output that exposes it.

A replaced code goes to the slot's replay pool; with probability `replay_prob` a step shows
a random older code instead, so the policy keeps catching bugs it learnt earlier. Replay
draws are seeded by (seed, step, slot), so every process of a multi-GPU run agrees.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from atest.core.checking import distinct_tests
from atest.core.training.config import AtgenSection


@dataclass
class Slot:
    task_id: str
    current: str
    pool: list[str] = field(default_factory=list)  # older buggy codes, most recent last
    replaced: int = 0


@dataclass
class Observation:
    """One completion's outcome against the buggy code it was shown."""

    slot: int
    on_current: bool  # shown the slot's current code (not a replay draw)
    test: dict[str, Any] | None  # the parsed (input, output) pair, None when unparseable
    accurate: bool  # the output equals the gold solution's output on the input
    attacks: bool  # accurate, and the buggy code fails on the input


@dataclass
class StepDecision:
    due: list[int]  # slots to resample now
    caught: int  # slots whose current bug a group caught (adaptive's trigger)
    seen: int  # distinct slots trained on this step


# The mode's rule: (this step's observations on each slot's current code, the slots whose bug a
# group caught) -> the slots to resample, once `start_adver_steps` steps are done.
Rule = Callable[[dict[int, list[Observation]], list[int]], list[int]]


class AdversarialState:
    def __init__(self, slots: list[Slot], rule: Rule, config: AtgenSection, seed: int):
        self.slots = slots
        self.rule = rule
        self.config = config
        self.seed = seed
        self._observations: list[Observation] = []
        self.totals = {"attempted": 0, "accepted": 0, "samples": 0}

    # -- what each step shows ------------------------------------------------------------

    def shown_code(self, slot: int, step: int) -> tuple[str, bool]:
        """(buggy code shown at `step`, whether it is a replay draw); the same for every row of the group."""
        entry = self.slots[slot]
        if entry.pool and self.config.replay_prob > 0:
            rng = random.Random(f"{self.seed}:{step}:{slot}")
            if rng.random() < self.config.replay_prob:
                return rng.choice(entry.pool), True
        return entry.current, False

    # -- what the reward function saw -------------------------------------------------------

    def observe(self, observations: list[Observation]) -> None:
        self._observations.extend(observations)

    def take_observations(self) -> list[Observation]:
        out, self._observations = self._observations, []
        return out

    # -- the mode's rule ------------------------------------------------------------------

    def decide(self, observations: list[Observation], completed_steps: int) -> StepDecision:
        by_slot: dict[int, list[Observation]] = defaultdict(list)
        for obs in observations:
            if obs.on_current:
                by_slot[obs.slot].append(obs)
        caught = [s for s, group in by_slot.items() if _attack_share(group) >= self.config.catch_fraction]
        seen = len({obs.slot for obs in observations})
        due = [] if completed_steps < self.config.start_adver_steps else self.rule(by_slot, caught)
        return StepDecision(due=due, caught=len(caught), seen=seen)

    def replace(self, slot: int, code: str) -> None:
        entry = self.slots[slot]
        if self.config.replay_pool_size > 0:
            entry.pool.append(entry.current)
            del entry.pool[: -self.config.replay_pool_size]
        entry.current = code
        entry.replaced += 1

    # -- checkpointing --------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {"slots": [asdict(s) for s in self.slots], "totals": dict(self.totals)}

    def load_state_dict(self, data: dict[str, Any]) -> None:
        slots = [Slot(**row) for row in data["slots"]]
        if [s.task_id for s in slots] != [s.task_id for s in self.slots]:
            raise ValueError("checkpoint's ATGEN slots do not match this run's tasks")
        self.slots = slots
        self.totals.update(data.get("totals", {}))


def accurate_tests(observations: list[Observation], slot: int) -> list[dict[str, Any]]:
    """The distinct tests with correct outputs that a slot's group wrote this step."""
    written = [obs.test for obs in observations if obs.slot == slot and obs.accurate and obs.test is not None]
    return distinct_tests(written, by="test")


def _attack_share(group: list[Observation]) -> float:
    return sum(obs.attacks for obs in group) / len(group) if group else 0.0
