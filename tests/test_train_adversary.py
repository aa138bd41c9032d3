"""ATGEN's curriculum rules (static / unconditional / adaptive), replay pool and checkpoint state."""

from __future__ import annotations

import pytest

from atest.core.training.config import AtgenSection
from atest.core.training.modes import get_mode
from atest.core.training.phases.adversary import AdversarialState, Observation, Slot, accurate_tests


def make_state(mode: str, **over) -> AdversarialState:
    settings = {
        "start_adver_steps": 2,
        "catch_fraction": 0.5,
        "replay_pool_size": 2,
        "replay_prob": 0.0,
        **over,
    }
    config = AtgenSection(**settings)
    return AdversarialState([Slot("a", "bug-a"), Slot("b", "bug-b")], get_mode(mode).due, config, seed=0)


def group(slot: int, attacks: int, size: int = 4, on_current: bool = True) -> list[Observation]:
    test = {"input": [slot], "output": slot}
    return [Observation(slot, on_current, test, True, i < attacks) for i in range(size)]


def test_static_never_replaces():
    state = make_state("atgen-static")
    decision = state.decide(group(0, 4) + group(1, 4), completed_steps=100)
    assert decision.due == [] and decision.caught == 2 and decision.seen == 2


def test_nothing_is_replaced_before_start_adver_steps():
    for mode in ("atgen-unconditional", "atgen-adaptive"):
        state = make_state(mode)
        assert state.decide(group(0, 4), completed_steps=1).due == []
        assert state.decide(group(0, 4), completed_steps=2).due == [0]


def test_unconditional_replaces_every_slot_seen_on_its_current_code():
    state = make_state("atgen-unconditional")
    obs = group(0, 0) + group(1, 0, on_current=False)
    assert state.decide(obs, completed_steps=5).due == [0]


def test_adaptive_replaces_only_caught_bugs():
    state = make_state("atgen-adaptive")
    # slot 0: 2 of 4 tests attack (= catch_fraction 0.5): caught; slot 1: 1 of 4: not yet.
    decision = state.decide(group(0, 2) + group(1, 1), completed_steps=5)
    assert decision.due == [0] and decision.caught == 1


def test_adaptive_ignores_attacks_on_replayed_codes():
    state = make_state("atgen-adaptive")
    assert state.decide(group(0, 4, on_current=False), completed_steps=5).due == []


def test_replace_moves_the_old_code_to_a_bounded_pool():
    state = make_state("atgen-adaptive")
    for i in range(3):
        state.replace(0, f"new-{i}")
    slot = state.slots[0]
    assert slot.current == "new-2" and slot.pool == ["new-0", "new-1"] and slot.replaced == 3


def test_replay_draws_are_deterministic_per_step_and_slot_and_follow_the_probability():
    state = make_state("atgen-adaptive", replay_prob=0.5)
    state.replace(0, "newer")
    draws = [state.shown_code(0, step) for step in range(400)]
    assert draws == [state.shown_code(0, step) for step in range(400)]
    replays = [code for code, replay in draws if replay]
    assert set(replays) == {"bug-a"}
    assert 0.4 < len(replays) / 400 < 0.6
    assert all(code == "newer" for code, replay in draws if not replay)


def test_without_pool_the_current_code_is_always_shown():
    state = make_state("atgen-adaptive", replay_prob=1.0)
    assert state.shown_code(1, 3) == ("bug-b", False)


def test_accurate_tests_are_distinct_and_only_correct_ones():
    obs = [
        Observation(0, True, {"input": "1\n", "output": "2"}, True, False),
        Observation(0, True, {"input": "1\n", "output": "2"}, True, True),
        Observation(0, True, {"input": "3\n", "output": "9"}, False, False),
        Observation(0, True, None, False, False),
        Observation(1, True, {"input": "5\n", "output": "6"}, True, False),
    ]
    assert accurate_tests(obs, 0) == [{"input": "1\n", "output": "2"}]


def test_state_round_trips_and_refuses_other_tasks():
    state = make_state("atgen-unconditional")
    state.replace(1, "harder")
    state.totals["accepted"] = 1
    again = make_state("atgen-unconditional")
    again.load_state_dict(state.state_dict())
    assert again.slots == state.slots and again.totals["accepted"] == 1
    other = AdversarialState([Slot("z", "x")], get_mode("atgen-unconditional").due, AtgenSection(), 0)
    with pytest.raises(ValueError, match="do not match"):
        other.load_state_dict(state.state_dict())


def test_observations_are_taken_once():
    state = make_state("atgen-adaptive")
    state.observe(group(0, 1))
    assert len(state.take_observations()) == 4
    assert state.take_observations() == []


class ScriptedAuthor:
    """A code author that answers with a fixed list of programs, in order (a stand-in for an LLM
    endpoint whose samples we need to know in advance); records the sampling requests."""

    def __init__(self, programs: list[str]):
        self.programs = list(programs)
        self.requests: list[tuple[int, int]] = []

    def generate(self, prompts, params):
        from atest.core.generation import Completion

        self.requests.append((len(prompts), params.n))
        out = []
        for _ in prompts:
            batch = [self.programs.pop(0) if self.programs else "no code here" for _ in range(params.n)]
            out.append([Completion(f"```python\n{code}```", 10, "stop", None) for code in batch])
        return out


def sum_task():
    from atest.core.tasks import Task

    tests = [{"input": f"{a} {b}\n", "output": f"{a + b}\n"} for a, b in ((1, 2), (-5, 5), (10, 20))]
    return Task("sum", "print a + b", "stdio", ["a, b = map(int, input().split())\nprint(a + b)\n"], tests)


def test_sampler_accepts_the_first_code_that_passes_current_tests_and_fails_gold():
    from atest.core.sandbox import Limits, get_executor
    from atest.core.training.config import AdversarySection
    from atest.core.training.phases.atgen_loop import AdversarySampler

    task = sum_task()
    programs = [
        "print(1/0)\n",  # crashes: passes nothing
        "a, b = map(int, input().split())\nprint(a + b)\n",  # correct: fails no gold test
        "a, b = map(int, input().split())\nprint(abs(a) + b)\n",  # passes the current test, fails (-5, 5)
        "a, b = map(int, input().split())\nprint(a + b + 1)\n",  # never reached
    ]
    author = ScriptedAuthor(programs)
    current_tests = [{"input": "1 2\n", "output": "3\n"}]
    config = AdversarySection(retries=6, samples_per_request=2)
    with get_executor(workers=1) as executor:
        sampler = AdversarySampler(author, executor, config, Limits(cpu_seconds=1.0), seed=0, thinking=False)
        [found] = sampler.sample([(0, task, current_tests, set())], step=3)
    assert found.code is not None and "abs(a)" in found.code
    assert found.samples == 4  # two rounds of two samples
    assert author.requests == [(1, 2), (1, 2)]


def test_sampler_gives_up_after_the_retry_budget_and_skips_codes_already_used():
    from atest.core.sandbox import Limits, get_executor
    from atest.core.training.config import AdversarySection
    from atest.core.training.phases.atgen_loop import AdversarySampler

    task = sum_task()
    used = "a, b = map(int, input().split())\nprint(abs(a) + b)\n"
    author = ScriptedAuthor([used] * 10)
    config = AdversarySection(retries=5, samples_per_request=2)
    with get_executor(workers=1) as executor:
        sampler = AdversarySampler(author, executor, config, Limits(cpu_seconds=1.0), seed=0, thinking=False)
        [found] = sampler.sample([(0, task, [{"input": "1 2\n", "output": "3\n"}], {used})], step=0)
    assert found.code is None and found.samples == 5
    assert [n for _, n in author.requests] == [2, 2, 1]


def test_sampler_without_accurate_tests_needs_a_plausible_program():
    from atest.core.sandbox import Limits, get_executor
    from atest.core.training.config import AdversarySection
    from atest.core.training.phases.atgen_loop import AdversarySampler

    task = sum_task()
    author = ScriptedAuthor(["print(1/0)\n", "a, b = map(int, input().split())\nprint(abs(a) + b)\n"])
    with get_executor(workers=1) as executor:
        sampler = AdversarySampler(
            author,
            executor,
            AdversarySection(retries=2, samples_per_request=2),
            Limits(),
            seed=0,
            thinking=False,
        )
        [found] = sampler.sample([(0, task, [], set())], step=0)
    assert found.code is not None and "abs(a)" in found.code
