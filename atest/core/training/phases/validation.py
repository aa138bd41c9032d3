"""Validation during a training phase, and which checkpoint the phase exports (`validation.select`).

The UTRL authors validated every 10 steps (greedy, and once before training) and then picked
checkpoints by hand. Here a phase validates the policy every `validation.eval_steps` on a
task file of its own (kept apart from every evaluation set: `prepare --exclude`), greedy,
and step 0 too:

- the UTRL test generator by its reward (format, discrimination, validity) against each
  validation task's `candidates` (all models) as opponents;
- a code generator (UTRL's code phase, `--mode codegen`) by its pass rate: the share of tasks
  whose greedy code passes every gold test;
- the ATGEN test generator by IO accuracy and attack rate against each task's first buggy code.

Which of these a phase runs is its `ValidationRole` (prompt, score, what a validation task
needs), chosen by the mode (`Mode.validation_roles`) and handed to the phase's `Validator`.

Each validation is a `metrics.jsonl` record (`val/*`, phase `PHASE/validation`) and a line in
`PHASE/validation.json`. `select: best` keeps the best-scoring policy in `PHASE/best/`
(saved when it is validated, so checkpoint rotation never loses it), `select: step N` keeps
the step-N policy in `PHASE/step-N/`, `select: last` (the default) the final one; the phase
then hands the selected folder on to the next phase and to the export.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atest.core.errors import InputError
from atest.core.io import write_json_atomic
from atest.core.tasks import Task, read_tasks
from atest.core.training.config import TrainConfig, parse_select
from atest.core.training.run import ranks
from atest.core.training.run.context import LoopContext
from atest.core.training.trackers import report_figures
from atest.core.training.trainer.grpo import save_policy

STATE_NAME = "validation.json"


@dataclass(frozen=True)
class ValidationRole:
    """How a phase of one role is validated: its prompt, its score, and what a task needs for it."""

    name: str  # test | code | atgen, as in messages
    needs: str  # what a validation task holds beside a gold solution, for the error naming it
    scorable: Callable[[Task], bool]
    prompt: Callable[[TrainConfig, Task, bool], list[dict]]  # (config, task, thinking) -> messages
    score: Callable[[Validator, list[str]], dict[str, float]]  # the greedy answers -> val/* figures


def load_validation_tasks(path: str, training: list[Task], role: ValidationRole) -> list[Task]:
    """The validation tasks a role can be scored on; none may be a training task."""
    tasks, _ = read_tasks(path)
    shared = {t.task_id for t in tasks} & {t.task_id for t in training}
    if shared:
        raise InputError(
            f"validation.tasks {path}: {len(shared)} task(s) are training tasks (e.g. {sorted(shared)[0]})",
            "keep validation apart: atest prepare --exclude",
        )
    usable = [t for t in tasks if t.gold_solutions and role.scorable(t)]
    if not usable:
        raise InputError(f"validation.tasks {path}: no task has a gold solution and {role.needs}")
    return usable


def check_validation(
    config: TrainConfig, tasks: list[Task], steps: list[int], roles: list[ValidationRole]
) -> None:
    """Fail before any model loads: a missing or overlapping file, `best` without tasks.

    `steps` and `roles`: the step count of every GRPO phase the mode trains and the roles it
    validates (`Mode.phase_steps`, `Mode.validation_roles`)."""
    val = config.validation
    kind, step = parse_select(val.select)
    if step is not None and step > min(steps, default=step):
        raise InputError(
            f"validation.select is 'step {step}' but a phase trains only {min(steps)} steps",
            "choose a step every phase reaches, or best / last",
        )
    if val.tasks is None:
        if kind == "best":
            raise InputError("validation.select is best but validation.tasks is not set")
        return
    for role in roles:
        load_validation_tasks(val.tasks, tasks, role)


class Validator:
    """A TrainerCallback: validate at step 0 and every `eval_steps`; keep the selected policy."""

    def __init__(self, ctx: LoopContext, phase: str, phase_dir: Path, role: ValidationRole, thinking: bool):
        cfg = ctx.config.validation
        self.ctx = ctx
        self.phase = phase
        self.dir = phase_dir
        self.role = role
        self.thinking = thinking
        self.kind, self.step_n = parse_select(cfg.select)
        self.tasks = load_validation_tasks(cfg.tasks, ctx.tasks, role)[: cfg.max_tasks] if cfg.tasks else []
        self.trainer: Any = None
        self.state = _read_state(phase_dir / STATE_NAME)

    def callback(self) -> Any:
        from transformers import TrainerCallback

        validator = self

        class _Validate(TrainerCallback):
            def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                if state.global_step == 0:
                    validator.at_step(0)

            def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                validator.at_step(state.global_step)

        return _Validate()

    def at_step(self, step: int) -> None:
        if self.kind == "step" and step == self.step_n:
            save_policy(self.trainer, self.dir / f"step-{step}")
        every = self.ctx.config.validation.eval_steps
        if not self.tasks or step % every or any(r["step"] == step for r in self.state["history"]):
            return
        figures = self._score()
        # A phase of its own in metrics.jsonl: a record is keyed by (phase, step), and the
        # training step of the same number must not replace it.
        row = {"phase": f"{self.phase}/validation", "step": step, **figures}
        self.state["history"].append({"step": step, **figures})
        best = self.state.get("best")
        improved = best is None or figures["val/score"] > best["val/score"]
        if improved:
            self.state["best"] = {"step": step, "val/score": figures["val/score"]}
            if self.kind == "best":
                save_policy(self.trainer, self.dir / "best")
        if self.ctx.is_main:
            write_json_atomic(self.dir / STATE_NAME, self.state)
            self.ctx.on_metrics(row)
            report_figures(self.trainer, figures)

    def selected(self, final: Path) -> Path:
        """The folder the phase hands on: the final model, or the best / step-N one."""
        if self.kind == "best" and (self.dir / "best").is_dir():
            return self.dir / "best"
        if self.kind == "step":
            path = self.dir / f"step-{self.step_n}"
            if not path.is_dir():
                raise InputError(
                    f"{self.phase}: validation.select is 'step {self.step_n}' but the phase ran "
                    f"{self.trainer.state.global_step if self.trainer else '?'} steps",
                    "choose a step the phase reaches",
                )
            return path
        return final

    def _score(self) -> dict[str, float]:
        """Each process writes the answers to its share of the prompts; the main process runs
        them once and every process gets its figures (they all decide what to keep alike)."""
        prompts = [self.role.prompt(self.ctx.config, t, self.thinking) for t in self.tasks]
        texts = ranks.map_sharded(
            lambda part: greedy_texts(self.trainer, part, self.thinking), prompts, even=True
        )
        return ranks.on_main(lambda: self.role.score(self, texts))

    def _score_tests(self, texts: list[str]) -> dict[str, float]:
        from atest.core.rewards import UtrlTestItem, score_utrl_tests

        items = [
            UtrlTestItem(task=t, response=x, opponents=[c for cs in t.candidates.values() for c in cs])
            for t, x in zip(self.tasks, texts, strict=True)
        ]
        results = score_utrl_tests(self.ctx.executor, items, self.ctx.config.utrl, limits=self.ctx.limits)
        figures = {"val/score": _mean([r.score for r in results])}
        for name in ("format", "discrimination", "validity"):
            figures[f"val/{name}"] = _mean([r.components.get(name, 0.0) for r in results])
        with_gold = [(t, x) for t, x in zip(self.tasks, texts, strict=True) if t.gold_tests]
        if with_gold:
            figures["val/bon_accuracy"] = self._best_of_n(with_gold)
        return figures

    def _best_of_n(self, pairs: list[tuple[Task, str]]) -> float:
        """Best-of-N on the candidate pool: pick by the generated tests passed, judge by the gold
        tests; the expected accuracy under a uniform choice among tied candidates."""
        from atest.core.checking import CodeCheck, as_tests, pass_matrix
        from atest.core.metrics.bon import select_value
        from atest.core.parsing import parse_tests
        from atest.core.training.phases.judging import correct_codes

        pools = [[c for cs in t.candidates.values() for c in cs] for t, _ in pairs]
        tests = [as_tests(parse_tests(x, t.kind, template="utrl-test").tests) for t, x in pairs]
        checks = [
            CodeCheck(t, c, ts) for (t, _), pool, ts in zip(pairs, pools, tests, strict=True) for c in pool
        ]
        passed = iter(pass_matrix(self.ctx.executor, checks, self.ctx.limits))
        correct = correct_codes(
            self.ctx.executor, [(t, pool) for (t, _), pool in zip(pairs, pools, strict=True)], self.ctx.limits
        )
        accuracy = []
        for pool, flags in zip(pools, correct, strict=True):
            counts = [sum(next(passed)) for _ in pool]
            accuracy.append(select_value(counts, flags, "expected"))
        return _mean(accuracy)

    def _score_code(self, texts: list[str]) -> dict[str, float]:
        from atest.core.parsing import extract_code
        from atest.core.training.phases.judging import correct_codes

        codes = [[c] if (c := extract_code(x)) else [] for x in texts]
        flags = correct_codes(self.ctx.executor, list(zip(self.tasks, codes, strict=True)), self.ctx.limits)
        rate = _mean([1.0 if any(f) else 0.0 for f in flags])
        return {"val/score": rate, "val/pass_rate": rate}

    def _score_atgen(self, texts: list[str]) -> dict[str, float]:
        from atest.core.rewards import AtgenItem, judge_atgen

        items = [
            AtgenItem(task=t, response=x, buggy_code=t.buggy_code[0])
            for t, x in zip(self.tasks, texts, strict=True)
        ]
        verdicts = [o.verdict for o in judge_atgen(self.ctx.executor, items, limits=self.ctx.limits)]
        attack_rate = _mean([float(v.attack) for v in verdicts])
        return {
            "val/score": attack_rate,
            "val/io_accuracy": _mean([float(v.io_accurate) for v in verdicts]),
            "val/attack_rate": attack_rate,
        }


def greedy_texts(trainer: Any, prompts: list[list[dict]], thinking: bool, batch: int = 8) -> list[str]:
    """Greedy answers of the policy under training (every process joins: ZeRO-3 gathers weights)."""
    import torch
    from trl.models import unwrap_model_for_generation

    from atest.core.generation.hf import render_chat

    cfg = trainer.args
    tokenizer = trainer.processing_class
    texts = [render_chat(tokenizer, m, thinking=thinking) for m in prompts]
    out: list[str] = []
    with unwrap_model_for_generation(trainer.model_wrapped, trainer.accelerator) as model:
        was_training = model.training
        model.eval()
        try:
            for start in range(0, len(texts), batch):
                enc = tokenizer(
                    texts[start : start + batch], return_tensors="pt", padding=True, add_special_tokens=False
                ).to(model.device)
                with torch.no_grad():
                    ids = model.generate(
                        **enc,
                        max_new_tokens=cfg.max_completion_length,
                        do_sample=False,
                        pad_token_id=tokenizer.pad_token_id,
                    )
                out += tokenizer.batch_decode(ids[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        finally:
            model.train(was_training)
    return out


def _read_state(path: Path) -> dict[str, Any]:
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    return {"history": [], "best": None}


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _test_prompt(config: TrainConfig, task: Task, thinking: bool) -> list[dict]:
    from atest.core.prompts import build_messages

    return build_messages("utrl-test", task, thinking=thinking, n_tests=config.utrl.n_tests)


def _code_prompt(config: TrainConfig, task: Task, thinking: bool) -> list[dict]:
    from atest.core.prompts import build_messages

    return build_messages("utrl-code", task, thinking=thinking)


def _atgen_prompt(config: TrainConfig, task: Task, thinking: bool) -> list[dict]:
    from atest.core.prompts import build_messages

    return build_messages("atgen", task, buggy_code=task.buggy_code[0], thinking=thinking)


# The UTRL test generator: its reward against each task's candidates as opponents.
TEST = ValidationRole(
    "test", "candidates", lambda t: any(t.candidates.values()), _test_prompt, Validator._score_tests
)
# A code generator: the share of tasks whose greedy code passes every gold test.
CODE = ValidationRole("code", "gold tests", lambda t: bool(t.gold_tests), _code_prompt, Validator._score_code)
# The ATGEN test generator: IO accuracy and attack rate against each task's first buggy code.
ATGEN = ValidationRole(
    "atgen", "buggy_code", lambda t: bool(t.buggy_code), _atgen_prompt, Validator._score_atgen
)


def summarize_validation(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per phase: validations run, the first and last `val/score`, and the best one with its step."""
    by_phase: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if "val/score" in row:
            by_phase.setdefault(row["phase"], []).append(row)
    out = {}
    for phase, found in by_phase.items():
        best = max(found, key=lambda r: (r["val/score"], -r["step"]))
        out[phase] = {
            "validations": len(found),
            "score_first": found[0]["val/score"],
            "score_last": found[-1]["val/score"],
            "score_best": best["val/score"],
            "best_step": best["step"],
        }
    return out
