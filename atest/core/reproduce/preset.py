"""A study preset: which tasks, which models, how each is trained and evaluated.

`atest reproduce PAPER --preset NAME` reads `atest/configs/reproduce/NAME.yaml`, applies the
`--set key=value` overrides and validates the result here (unknown keys are refused, so a
typo never silently falls back to a default). One file holds both papers: the sections that
are common (data, warm-up, training budget, evaluation) and one section per paper (its
model, the models it compares, the `atest train` overrides of its RL runs, its headline
metric). Every number a step uses comes from here, so the plan (`--print-plan`) and the run
agree by construction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from atest.core.errors import InputError

PAPERS = ("atgen", "utrl")
RL_MODELS = {"atgen": ("atgen-static", "atgen-unconditional", "atgen-adaptive"), "utrl": ("utrl",)}
FIXED_MODELS = ("base", "warmup", "sft")
POOL_SPLITS = ("train", "val", "heldout-family", "heldout-instance")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _flat(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{grpo: {beta: 0}}` -> `{"grpo.beta": 0}`: a `--set train.sets.grpo.beta=0` nests, a key stays dotted."""
    out: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, dict) and item:
            out.update(_flat(item, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = item
    return out


class PrepareSource(_Strict):
    """A split prepared straight from a dataset: `atest prepare --source S --path P ...`."""

    source: str
    path: str | None = None
    split: str | None = None
    limit: int | None = Field(None, ge=1)


class PoolSection(_Strict):
    """Easy tasks split by `build_splits` into train / val / heldout-family / heldout-instance."""

    source: Literal["bundled", "synth"] = "bundled"
    files: list[str] = Field(default_factory=list)  # bundled: task files pooled (package-relative)
    per_family: int = Field(20, ge=1)  # synth: tasks per family
    seed: int = 0
    heldout_families: int | list[str] = 2  # how many families (chosen by seed), or which
    # synth: validation holds whole families too (so choosing steps on it mirrors the headline
    # question), and heldout-instance this share of every training family's instances
    val_families: int | list[str] = 4
    heldout_instance_fraction: float = Field(0.25, ge=0.0, lt=1.0)
    sizes: dict[str, int] = Field(default_factory=dict)  # split -> at most this many tasks

    @model_validator(mode="after")
    def _known_splits(self) -> PoolSection:
        unknown = set(self.sizes) - set(POOL_SPLITS)
        if unknown:
            raise ValueError(f"sizes: unknown split(s) {sorted(unknown)}; use {', '.join(POOL_SPLITS)}")
        return self


class DataSection(_Strict):
    pool: PoolSection | None = None
    prepared: dict[str, PrepareSource] = Field(default_factory=dict)  # split -> its own source
    hard: PrepareSource | None = None  # real data (LeetCode/APPS): reported even at 0
    external: PrepareSource | None = None  # easy tasks written outside the project (HumanEval)
    headline: str = "heldout-family"
    mutants: int = Field(4, ge=1)  # buggy codes per task and mutant-pool size (prepare --mutants)
    # where the mutants go (prepare --mutants-into): tasks with hand-written bugs (the generator's)
    # keep theirs as buggy code with `candidates`; mutants are appended after existing buggy code
    mutants_into: Literal["both", "buggy", "candidates"] = "both"
    verify: bool = True
    max_tests: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _has_train(self) -> DataSection:
        if self.pool is None and "train" not in self.prepared:
            raise ValueError("data needs a pool or a prepared 'train' split")
        return self


class WarmupSection(_Strict):
    steps: int = Field(8, ge=1)
    lr: float = Field(1e-4, gt=0)
    batch_size: int = Field(2, ge=1)
    max_length: int = Field(768, ge=64)
    # `atest warmup --targets`; the SFT baseline continues on the same targets.
    targets: Literal["plain", "worked"] = "plain"


class TrainSection(_Strict):
    """The budget shared by every RL run and the SFT baseline (same steps, same examples).

    A key left null keeps the training config's own value (the `paper` preset: the papers'
    schedules as in atest/configs/<mode>.yaml).
    """

    preset: str | None = "cpu-smoke"  # the `atest train --preset` each run starts from
    steps: int | None = Field(4, ge=1)
    prompts_per_step: int | None = Field(2, ge=1)
    num_generations: int | None = Field(4, ge=2)
    learning_rate: float | None = Field(1e-4, gt=0)
    max_completion_length: int | None = Field(128, ge=16)
    eval_steps: int = Field(2, ge=1)  # validation on the val split every this many steps
    val_max_tasks: int | None = Field(None, ge=1)
    sft_learning_rate: float | None = Field(1e-4, gt=0)
    sets: dict[str, Any] = Field(default_factory=dict)  # more `--set` for every `atest train` run

    _sets = field_validator("sets", mode="before")(classmethod(lambda cls, v: _flat(v or {})))


class EvalSection(_Strict):
    solution_model: str | None = "mutants"  # the candidate pool bon/fidelity rank (null: every pool)
    ns: list[int] | None = None  # best-of-N curve (default 1..data.mutants)
    max_new_tokens: int = Field(128, ge=16)
    # tests a UTRL response holds: asked for by every prompt of the study (warm-up and SFT targets,
    # the RL run's prompts and validation, evaluation), so no stage trains one length and is
    # scored on another
    n_tests: int = Field(12, ge=1)
    bon_tests_per_task: int = Field(0, ge=0)  # ATGEN's best-of-N filter: gen-tests --tests-per-task
    mutation_k: int = Field(20, ge=1)
    resamples: int = Field(2000, ge=100)
    seed: int = 0
    workers: int | None = Field(None, ge=1)
    threads: int | None = Field(None, ge=1)  # hf only
    # gen-tests --backend for every model's tests: vllm pays on long splits (docs/generation.md)
    backend: Literal["hf", "vllm"] = "hf"


class CostSection(_Strict):
    """Rough expected cost per unit of work, for `--print-plan` (not a measurement)."""

    unit: str = "CPU-min"
    prepare_per_task: float = 0.01
    warmup_per_step: float = 0.1
    train_per_step: float = 0.5
    gen_per_task: float = 0.05
    eval_per_task: float = 0.01
    default_steps: int = 500  # steps assumed when the training config sets the schedule (train.steps null)


class PaperSection(_Strict):
    model: str = "smollm2-135m"
    data: DataSection | None = None  # this paper's own data, instead of the preset's
    solution_model: str | None = None  # this paper's candidate pool, instead of eval.solution_model
    models: list[str]
    headline_metric: str
    sets: dict[str, Any] = Field(default_factory=dict)  # `--set` for this paper's RL runs
    # This paper's response budget in tokens, for its RL runs (grpo.max_completion_length, their
    # validation included) and every model's test writing (gen-tests --max-new-tokens), instead
    # of train.max_completion_length and eval.max_new_tokens: one response, one budget. A UTRL
    # response holds eval.n_tests tests, an ATGEN one a single test.
    max_new_tokens: int | None = Field(None, ge=16)
    # This paper's GRPO learning rate, instead of train.learning_rate: a rate chosen on one
    # paper's validation curves says nothing about the other paper's runs.
    learning_rate: float | None = Field(None, gt=0)

    _sets = field_validator("sets", mode="before")(classmethod(lambda cls, v: _flat(v or {})))


class Preset(_Strict):
    description: str
    gpu: bool = False
    data: DataSection | None = None
    warmup: WarmupSection = Field(default_factory=WarmupSection)
    train: TrainSection = Field(default_factory=TrainSection)
    eval: EvalSection = Field(default_factory=EvalSection)
    cost: CostSection = Field(default_factory=CostSection)
    atgen: PaperSection
    utrl: PaperSection

    @model_validator(mode="after")
    def _models(self) -> Preset:
        for paper in PAPERS:
            section: PaperSection = getattr(self, paper)
            allowed = (*FIXED_MODELS, *RL_MODELS[paper])
            bad = [m for m in section.models if m not in allowed]
            if bad:
                raise ValueError(f"{paper}.models: unknown model(s) {bad}; use {', '.join(allowed)}")
            if section.data is None and self.data is None:
                raise ValueError(f"{paper}: no data section (give data, or {paper}.data)")
            if "base" not in section.models or not any(m in RL_MODELS[paper] for m in section.models):
                raise ValueError(
                    f"{paper}.models must hold base and at least one of {', '.join(RL_MODELS[paper])}"
                )
        return self

    def paper(self, name: str) -> PaperSection:
        return getattr(self, name)

    def train_tokens(self, paper: str) -> int | None:
        """The RL runs' completion budget (None: the training config's own)."""
        return self.paper(paper).max_new_tokens or self.train.max_completion_length

    def train_lr(self, paper: str) -> float | None:
        """The RL runs' learning rate (None: the training config's own)."""
        return self.paper(paper).learning_rate or self.train.learning_rate

    def eval_tokens(self, paper: str) -> int:
        """The evaluation's budget for one response."""
        return self.paper(paper).max_new_tokens or self.eval.max_new_tokens

    def data_for(self, paper: str) -> DataSection:
        data = self.paper(paper).data or self.data
        assert data is not None  # checked by _models
        return data


def presets_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "configs" / "reproduce"


def preset_names() -> list[str]:
    return sorted(p.stem for p in presets_dir().glob("*.yaml"))


def load_preset(name: str, overrides: list[str] | None = None) -> Preset:
    """The named preset with `--set key=value` written in (values read as YAML), validated."""
    path = presets_dir() / f"{name}.yaml"
    if not path.is_file():
        raise InputError(f"--preset {name!r}: no such preset", f"choose one of: {', '.join(preset_names())}")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for item in overrides or []:
        _override(data, item)
    try:
        return Preset.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise InputError(
            f"preset {name}: {key}: {err['msg']}",
            f"fix {path.name} or the --set for it (keys: data.*, warmup.*, train.*, eval.*, atgen.*, utrl.*)",
        ) from exc


def _override(data: dict[str, Any], item: str) -> None:
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise InputError(f"--set {item!r}: expected KEY=VALUE", "e.g. --set train.steps=8")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    parts = key.strip().split(".")
    node = data
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value
