"""ATGEN: one GRPO run of the test generator on (problem, buggy code) slots, with an adversarial
code sampler that replaces caught bugs with harder ones between steps.

The trainer reads each slot's buggy code at generation time (`AtgenHooks.refresh_inputs`),
so the prompt and the reward's `buggy_code` column agree for the whole group and step.
After each optimizer step a callback gathers what the reward functions of every process
observed; the main process lets the mode's rule pick slots (see `adversary.py`), every
process asks its sampler for replacements for its share of them, and the main process
applies them and sends the new state to every process. The state is saved inside each
checkpoint, so a resumed run shows the same bugs it would have shown without the
interruption.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atest.core.checking import CodeCheck, as_tests, pass_matrix
from atest.core.errors import InputError
from atest.core.sandbox import Executor, Limits
from atest.core.tasks import Task
from atest.core.training.config import AdversarySection
from atest.core.training.phases.adversary import (
    AdversarialState,
    Observation,
    Rule,
    Slot,
    StepDecision,
    accurate_tests,
)
from atest.core.training.phases.reward_fns import AtgenReward
from atest.core.training.phases.sampling import release_memory, texts_of
from atest.core.training.phases.validation import ATGEN, Validator
from atest.core.training.run import ranks
from atest.core.training.run.context import LoopContext
from atest.core.training.run.export import export_role
from atest.core.training.trainer.grpo import (
    build_grpo_config,
    latest_checkpoint,
    load_policy,
    read_extra_state,
    run_grpo_phase,
)

PHASE = "atgen/train"
RANK_SEED_STRIDE = 1_000_003  # apart enough that two processes never draw with the same seed


def build_slots(tasks: list[Task], per_task: int | None) -> list[Slot]:
    slots = [Slot(task.task_id, code) for task in tasks for code in task.buggy_code[:per_task]]
    if not slots:
        raise InputError(
            "no task has buggy code", "ATGEN trains against bugs: run `atest prepare --mutants K`"
        )
    return slots


class AtgenHooks:
    """What the trainer consults each step: the live buggy code per slot, and state to checkpoint."""

    def __init__(self, state: AdversarialState, tasks_by_id: dict[str, Task], thinking: bool):
        self.state = state
        self.tasks_by_id = tasks_by_id
        self.thinking = thinking
        self.pending_metrics: dict[str, float] = {}

    def refresh_inputs(self, inputs: list[dict[str, Any]], step: int) -> list[dict[str, Any]]:
        from atest.core.prompts import build_messages

        out = []
        for row in inputs:
            code, replay = self.state.shown_code(row["slot"], step)
            task = self.tasks_by_id[row["task_id"]]
            prompt = build_messages("atgen", task, buggy_code=code, thinking=self.thinking)
            out.append({**row, "prompt": prompt, "buggy_code": code, "on_current": not replay})
        return out

    def state_dict(self) -> dict[str, Any]:
        return self.state.state_dict()

    def pop_metrics(self) -> dict[str, float]:
        out, self.pending_metrics = self.pending_metrics, {}
        return out


@dataclass
class Replacement:
    slot: int
    code: str | None  # None: no sample qualified within the retry budget
    samples: int  # samples drawn for this slot


class AdversarySampler:
    """Samples code that passes the slot's current accurate generated tests but fails a gold test.

    Any generation backend works (an OpenAI-compatible endpoint included). Samples come in
    rounds of `samples_per_request` per pending slot, all checked in one sandbox batch, until
    each slot has one that qualifies or `retries` samples were drawn. A qualifying sample must
    also pass at least one gold test when the slot has no accurate test to pass, so that a
    program that does not run is never accepted as a "bug".
    """

    def __init__(
        self,
        generator: Any,
        executor: Executor,
        config: AdversarySection,
        limits: Limits,
        seed: int,
        thinking: bool,
    ):
        self.generator = generator
        self.executor = executor
        self.config = config
        self.limits = limits
        self.seed = seed
        self.thinking = thinking

    def sample(
        self, requests: list[tuple[int, Task, list[dict[str, Any]], set[str]]], step: int
    ) -> list[Replacement]:
        """`requests`: (slot, task, accurate tests, codes the slot already used)."""
        from atest.core.generation import SamplingParams
        from atest.core.parsing import extract_code
        from atest.core.prompts import build_messages

        drawn = {slot: 0 for slot, *_ in requests}
        found: dict[int, str] = {}
        pending = list(requests)
        round_no = 0
        while pending:
            n = min(self.config.samples_per_request, max(self.config.retries - drawn[s] for s, *_ in pending))
            params = SamplingParams(
                temperature=self.config.temperature,
                top_p=1.0,
                max_new_tokens=self.config.max_new_tokens,
                n=n,
                seed=self.seed + 7919 * step + round_no,
            )
            prompts = [build_messages("utrl-code", task, thinking=self.thinking) for _, task, _, _ in pending]
            batches = self.generator.generate(prompts, params)
            candidates: list[tuple[int, Task, list[dict[str, Any]], str]] = []
            for (slot, task, tests, used), completions in zip(pending, batches, strict=True):
                budget = self.config.retries - drawn[slot]
                drawn[slot] += min(n, budget)  # failed requests count too, so the loop always ends
                for code in map(extract_code, texts_of(completions[:budget])):
                    if code and (code not in used or not self.config.extra_gates):
                        candidates.append((slot, task, tests, code))
            found.update(self._first_qualifying(candidates))
            round_no += 1
            pending = [r for r in pending if r[0] not in found and drawn[r[0]] < self.config.retries]
        return [Replacement(slot, found.get(slot), drawn[slot]) for slot, *_ in requests]

    def _first_qualifying(
        self, candidates: list[tuple[int, Task, list[dict[str, Any]], str]]
    ) -> dict[int, str]:
        checks = []
        for _, task, tests, code in candidates:
            checks.append(CodeCheck(task, code, as_tests(tests)))
            checks.append(CodeCheck(task, code, as_tests(task.gold_tests)))
        verdicts = pass_matrix(self.executor, checks, self.limits)
        found: dict[int, str] = {}
        for i, (slot, _, tests, code) in enumerate(candidates):
            if slot in found:
                continue
            on_tests, on_gold = verdicts[2 * i], verdicts[2 * i + 1]
            gated = self.config.extra_gates and not tests
            evades = all(on_tests) and (not gated or any(on_gold))
            if evades and not all(on_gold):
                found[slot] = code
        return found


def adversary_callback(
    state: AdversarialState, hooks: AtgenHooks, sampler: AdversarySampler | None, ctx: LoopContext
):
    """The TrainerCallback that runs the adversarial step after each optimizer step."""
    from transformers import TrainerCallback

    tasks_by_id = ctx.tasks_by_id

    class _Adversary(TrainerCallback):
        trainer: Any = None

        def on_step_end(self, args: Any, train_state: Any, control: Any, **kw: Any) -> None:
            start = time.perf_counter()
            observations = [o for part in ranks.all_gather(state.take_observations()) for o in part]
            metrics = _adversarial_step(state, sampler, observations, train_state.global_step, tasks_by_id)
            hooks.pending_metrics.update(metrics)
            if self.trainer is not None:
                self.trainer.timer.add("adversary", time.perf_counter() - start)

    return _Adversary()


def _adversarial_step(
    state: AdversarialState,
    sampler: AdversarySampler | None,
    observations: list[Observation],
    completed_steps: int,
    tasks_by_id: dict[str, Task],
) -> dict[str, float]:
    """Decide on the main process, sample on every process (each its share of the slots), apply
    on the main process, and leave every process with the main one's state."""
    decision = ranks.on_main(lambda: state.decide(observations, completed_steps))
    replacements: list[Replacement] = []
    if decision.due and sampler is not None:
        requests = []
        for slot in decision.due:
            entry = state.slots[slot]
            used = {entry.current, *entry.pool}
            requests.append((slot, tasks_by_id[entry.task_id], accurate_tests(observations, slot), used))
        replacements = ranks.map_sharded(lambda part: sampler.sample(part, completed_steps), requests)
    state_dict, metrics = ranks.on_main(lambda: _apply(state, replacements, decision, observations))
    state.load_state_dict(state_dict)
    return metrics


def _apply(
    state: AdversarialState,
    replacements: list[Replacement],
    decision: StepDecision,
    observations: list[Observation],
) -> tuple[dict[str, Any], dict[str, float]]:
    for rep in replacements:
        if rep.code is not None:
            state.replace(rep.slot, rep.code)
    accepted = sum(rep.code is not None for rep in replacements)
    samples = sum(rep.samples for rep in replacements)
    state.totals["attempted"] += len(replacements)
    state.totals["accepted"] += accepted
    state.totals["samples"] += samples
    return state.state_dict(), {
        "adversary/slots_seen": float(decision.seen),
        "adversary/caught": float(decision.caught),
        "adversary/attempted": float(len(replacements)),
        "adversary/accepted": float(accepted),
        "adversary/acceptance_rate": accepted / len(replacements) if replacements else 0.0,
        "adversary/mean_retries": samples / len(replacements) if replacements else 0.0,
        "adversary/replaced_total": float(sum(s.replaced for s in state.slots)),
        "adversary/replay_share": (
            sum(not o.on_current for o in observations) / len(observations) if observations else 0.0
        ),
    }


def run_atgen(ctx: LoopContext, rule: Rule, adversarial: bool) -> dict[str, Path]:
    """The ATGEN run of a mode: `rule` picks the slots to resample after each step, and with
    `adversarial` false no adversary is loaded (the rule never picks one)."""
    from datasets import Dataset

    cfg = ctx.config
    out = ctx.run.phase_dir(PHASE)
    if ctx.run.is_done(PHASE):
        model_dir = ctx.run.root / ctx.run.phase_info(PHASE)["model"]
        return {"test_generator": export_role(ctx, "test_generator", model_dir, ctx.base_dirs["test"])}
    state = AdversarialState(build_slots(ctx.tasks, cfg.atgen.buggy_per_task), rule, cfg.atgen, cfg.seed)
    # The main process reads the checkpoint's state, so every process resumes from the same one.
    saved = ranks.on_main(lambda: read_extra_state(latest_checkpoint(out / "checkpoints")))
    if saved is not None:
        state.load_state_dict(saved)
    hooks = AtgenHooks(state, ctx.tasks_by_id, cfg.test_model.thinking)
    rows = [
        {"prompt": [], "task_id": s.task_id, "slot": i, "buggy_code": s.current}
        for i, s in enumerate(state.slots)
    ]
    dataset = Dataset.from_list(hooks.refresh_inputs(rows, 0))
    reward = AtgenReward(ctx.tasks_by_id, ctx.executor, state, ctx.limits)
    with contextlib.ExitStack() as stack:
        sampler = None
        if adversarial:
            # Every process samples for its share of the due slots, from its own random stream.
            generator = stack.enter_context(_adversary_generator(ctx))
            adv = cfg.atgen.adversary
            seed = cfg.seed + RANK_SEED_STRIDE * ranks.rank()
            sampler = AdversarySampler(
                generator, ctx.executor, adv, ctx.limits, seed, cfg.test_model.thinking
            )
        callback = adversary_callback(state, hooks, sampler, ctx)
        validator = Validator(ctx, PHASE, out, ATGEN, cfg.test_model.thinking)
        policy = load_policy(cfg.test_model, ctx.base_dirs["test"], None, ctx.use_cpu)
        args = build_grpo_config(
            cfg.grpo,
            output_dir=out / "checkpoints",
            max_steps=cfg.atgen.max_steps,
            seed=cfg.seed,
            use_cpu=ctx.use_cpu,
            thinking=cfg.test_model.thinking,
            run_name="atgen",
        )
        ctx.on_event(
            f"{PHASE}: GRPO on the test generator, {len(state.slots)} slots, {cfg.atgen.max_steps} steps"
        )
        result = run_grpo_phase(
            phase=PHASE,
            phase_dir=out,
            policy=policy,
            dataset=dataset,
            reward_funcs=[reward],
            grpo_args=args,
            metrics_sink=ctx.on_metrics,
            hooks=hooks,
            callbacks=[callback, validator.callback()],
            on_trainer=lambda trainer: [setattr(c, "trainer", trainer) for c in (callback, validator)],
            on_event=ctx.on_event,
        )
        for holder in (callback, validator):
            holder.trainer = None  # the trainer (model, optimizer) must not outlive training into the export
    del policy
    release_memory()
    if ctx.is_main:
        from atest.core.io import write_json_atomic

        write_json_atomic(out / "adversary_state.json", state.state_dict())
    model_dir = validator.selected(result.model_dir)
    ctx.mark_done(PHASE, model=ctx.rel(model_dir), steps=result.steps, **state.totals)
    return {"test_generator": export_role(ctx, "test_generator", model_dir, ctx.base_dirs["test"])}


def _adversary_generator(ctx: LoopContext) -> Any:
    """The adversary's generator: its own model, by default the test model's base (never the policy)."""
    from atest.core.training.phases.sampling import open_generator

    adv = ctx.config.atgen.adversary
    opts: dict[str, Any] = {}
    if adv.backend == "openai":
        opts = {"base_url": adv.base_url, "api_key_env": adv.api_key_env}
    return open_generator(adv.backend, ctx.base_dirs["adversary"], **opts)
