"""Training configuration: YAML files with presets, `--set key=value` overrides, strict keys.

A run is described by one resolved `TrainConfig`. It is built from a mode file
(`atest/configs/<mode>.yaml`, the papers' hyper-parameters), optionally a preset that overlays it
(`atest/configs/<preset>/<mode>.yaml`, e.g. `cpu-smoke`) or a user file, then command-line
overrides. Any YAML file may name a `base:` file it extends. Every section forbids unknown
keys (pydantic's `extra="forbid"`), and the error names the key, where it came from, the
closest valid key and the valid keys of its section, because a misspelt hyper-parameter that
is silently ignored wastes a GPU-day. The resolved config is written into the run directory
and is what `--resume` reads.

The config knows no mode: `mode` is a name that the mode registry (`modes/`) checks, with
each mode's own requirements, in `runner.resolve_config`. So this module imports nothing of
the training layers above it, and every layer may import it.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from atest.core.errors import InputError
from atest.core.rewards import UtrlRewardConfig
from atest.core.training.fastpath import FastSection

CONFIG_DIR_ENV = "ATEST_CONFIG_DIR"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LoraSection(_Strict):
    """LoRA adapter settings; when disabled the whole model is trained."""

    enabled: bool = False
    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: list[str] | str = "all-linear"


class ModelSection(_Strict):
    """One role's model: a name understood by `resolve_model`, a local directory or a hub id."""

    path: str
    lora: LoraSection = Field(default_factory=LoraSection)
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    thinking: bool = False  # Qwen3's `enable_thinking` switch in the chat template


class GrpoSection(_Strict):
    """The GRPO hyper-parameters, mapped onto TRL's `GRPOConfig` by `grpo.build_grpo_config`.

    `prompts_per_step` x `num_generations` completions make one optimizer step; TRL's
    gradient accumulation is derived from it and the micro-batch, so the papers' batch sizes
    can be written as the papers state them whatever the number of GPUs.
    """

    learning_rate: float = Field(1e-6, gt=0)
    num_generations: int = Field(8, ge=2)
    prompts_per_step: int = Field(128, ge=1)
    per_device_train_batch_size: int = Field(8, ge=1)
    beta: float = Field(0.001, ge=0)
    loss_type: str = "dapo"
    scale_rewards: Literal["group", "batch", "none"] = "group"
    epsilon: float = 0.2
    epsilon_high: float | None = None
    num_iterations: int = Field(1, ge=1)
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(1.0, gt=0, le=1)
    max_completion_length: int = Field(4096, ge=1)
    mask_truncated_completions: bool = False
    lr_scheduler_type: str = "constant"
    warmup_steps: float = Field(0, ge=0)  # steps, or a fraction of the phase when < 1
    max_grad_norm: float = 1.0
    weight_decay: float = 0.0
    bf16: bool = False
    gradient_checkpointing: bool = False
    logging_steps: int = Field(1, ge=1)
    save_steps: int = Field(50, ge=1)
    save_total_limit: int | None = 2
    report_to: list[str] = Field(default_factory=list)
    log_completions: bool = False
    use_vllm: bool = False
    vllm_mode: Literal["colocate", "server"] = "colocate"
    vllm_server_base_url: str | None = None
    vllm_gpu_memory_utilization: float = Field(0.3, gt=0, le=1)
    vllm_tensor_parallel_size: int = Field(1, ge=1)
    extra: dict[str, Any] = Field(default_factory=dict)  # any other GRPOConfig field, checked by name

    @field_validator("extra")
    @classmethod
    def _extra_are_grpo_fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        from trl import GRPOConfig

        valid = {f.name for f in dataclasses.fields(GRPOConfig)}
        for key in value:
            if key not in valid:
                raise ValueError(f"'{key}' is not a TRL GRPOConfig field")
        return value


class IterationOverride(_Strict):
    """What changes in one UTRL iteration (the paper raised n and lr in iteration 2)."""

    test_steps: int | None = Field(None, ge=1)
    code_steps: int | None = Field(None, ge=0)  # 0: no code-generator phase in this iteration
    grpo: dict[str, Any] = Field(default_factory=dict)

    @field_validator("grpo")
    @classmethod
    def _grpo_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        """Checked as `grpo` keys and values now, not when the iteration starts a day into the run."""
        try:
            GrpoSection.model_validate(value)
        except ValidationError as exc:
            err = exc.errors()[0]
            key = ".".join(str(p) for p in err["loc"])
            if err["type"] != "extra_forbidden":
                raise ValueError(f"'{key}': {err['msg']}") from None
            keys = list(GrpoSection.model_fields)
            close = _closest(key, keys)
            guess = f"did you mean '{close}'? " if close else ""
            raise ValueError(f"'{key}' is not a grpo key ({guess}valid: {', '.join(keys)})") from None
        return value


class SamplingSection(_Strict):
    """Sampling for generation outside GRPO: opponents, tests between phases, adversarial code."""

    n: int = Field(8, ge=1)
    temperature: float = Field(1.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    max_new_tokens: int = Field(2048, ge=1)


class UtrlSection(UtrlRewardConfig):
    """UTRL's loop; the reward keys (weights, `n_tests`) are `UtrlRewardConfig`'s fields."""

    model_config = _Strict.model_config

    iterations: int = Field(2, ge=1)
    test_steps: int = Field(100, ge=1)
    code_steps: int = Field(100, ge=1)
    opponents: SamplingSection = Field(default_factory=SamplingSection)
    gen_tests: SamplingSection = Field(default_factory=lambda: SamplingSection(n=1))
    exclude_correct_opponents: bool = True
    # A sampled response without a python block: dropped (True), or kept as an empty program that
    # fails every valid test (False, the authors' reward, whose denominator is always K).
    drop_codeless_opponents: bool = True
    generation_backend: Literal["hf", "vllm"] = "hf"
    # Where each iteration's opponents come from: the code generator's samples (the paper), the
    # task's own buggy codes (hand-written bugs or mutants: a small model's samples seldom run, and
    # then every opponent fails every test alike), or both. Correct ones are dropped either way.
    opponents_from: Literal["model", "buggy_code", "both"] = "model"
    per_iteration: list[IterationOverride] = Field(default_factory=list)


class AdversarySection(_Strict):
    """The adversarial code sampler: any generation backend, including an OpenAI-compatible server."""

    backend: Literal["hf", "openai", "vllm"] = "hf"
    model: str | None = None  # None: the test model's base
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    retries: int = Field(30, ge=1)
    samples_per_request: int = Field(8, ge=1)
    temperature: float = Field(1.0, ge=0)
    max_new_tokens: int = Field(1024, ge=1)
    # atest's two acceptance gates beyond ATGEN's rule (pass the group's accurate tests, fail a
    # gold test): a code must pass a gold test when the group wrote no accurate test (else a
    # program that does not run is a "harder bug"), and a code the slot already used is skipped.
    extra_gates: bool = True


class AtgenSection(_Strict):
    max_steps: int = Field(500, ge=1)
    start_adver_steps: int = Field(50, ge=0)
    catch_fraction: float = Field(0.5, gt=0, le=1)  # adaptive: share of a group that must attack the bug
    buggy_per_task: int | None = Field(1, ge=1)  # None: every buggy code of a task is a slot
    replay_pool_size: int = Field(4, ge=0)
    replay_prob: float = Field(0.2, ge=0, le=1)
    adversary: AdversarySection = Field(default_factory=AdversarySection)


class CodegenSection(_Strict):
    """`--mode codegen`: GRPO on the code generator against generated tests (UTRL's code phase alone).

    The reward is `utrl.code_pass_weight` x pass rate on the valid generated tests +
    `utrl.code_format_weight` x format; no gold test is used in training. The tests come from
    a gen-tests file, or (when `tests` is null) the run's `test_model` writes them first.
    """

    tests: str | None = None  # a gen-tests output file; null: test_model writes them
    # Held-out tasks with gold tests: the code generator's greedy pass rate before and after.
    eval_tasks: str | None = None
    eval_max_new_tokens: int = Field(4096, ge=1)


class SftSection(_Strict):
    """`--mode sft`: UTRL's supervised baseline, the test generator fine-tuned on gold tests
    written in the UTRL response format (TRL's SFTTrainer)."""

    epochs: float = Field(10, gt=0)
    max_steps: int | None = Field(None, ge=1)  # set: stop after this many steps, whatever `epochs`
    learning_rate: float = Field(1e-5, gt=0)
    per_device_train_batch_size: int = Field(1, ge=1)
    gradient_accumulation_steps: int = Field(16, ge=1)
    lr_scheduler_type: str = "cosine"
    warmup_steps: float = Field(0.01, ge=0)  # steps, or a fraction of the run when < 1
    weight_decay: float = 0.0
    max_length: int = Field(4096, ge=1)
    completion_only_loss: bool = False
    n_tests: int = Field(12, ge=1)  # gold tests per target response
    targets: Literal["plain", "worked"] = "plain"  # as `atest warmup --targets` (training/warmup.py)
    bf16: bool = False
    gradient_checkpointing: bool = False
    logging_steps: int = Field(1, ge=1)
    save_steps: int = Field(50, ge=1)
    save_total_limit: int | None = 2
    report_to: list[str] = Field(default_factory=list)  # trackers, as grpo.report_to


class ValidationSection(_Strict):
    """Validation during each training phase and which policy a phase exports (phases/validation.py)."""

    tasks: str | None = None  # validation tasks, disjoint from training and every evaluation set
    eval_steps: int = Field(10, ge=1)  # validate every N steps, and at step 0
    max_tasks: int | None = Field(None, ge=1)
    select: str = "last"  # best | last | step N

    @field_validator("select")
    @classmethod
    def _select(cls, value: str) -> str:
        parse_select(value)
        return value


def parse_select(value: str) -> tuple[str, int | None]:
    """`best` / `last` / `step N` -> (kind, N)."""
    text = value.strip()
    if text in ("best", "last"):
        return text, None
    kind, _, number = text.partition(" ")
    if kind == "step" and number.strip().isdigit() and int(number) >= 1:
        return "step", int(number)
    raise ValueError(f"select {value!r}: use best, last or 'step N' (N >= 1)")


class SandboxSection(_Strict):
    # The lowest layer of the sandbox settings: a root flag (`atest --executor ...`), then the
    # environment ($ATEST_EXECUTOR, ...), then these keys; None: not said here (`settings.resolve`).
    isolation: Literal["auto", "namespace", "none"] | None = None
    executor: Literal["local", "subprocess", "ray", "sandboxfusion"] | None = None  # None: local
    url: str | None = None  # sandboxfusion: the server's base URL
    workers: int | None = Field(None, ge=1)
    # Inputs of one program that may share a forked child (None: 64).
    batch: int | None = Field(None, ge=1)
    cpu_seconds: float = Field(2.0, gt=0)
    memory_mb: int = Field(1024, ge=64)

    def settings_layer(self) -> dict[str, Any]:
        """These keys as the config layer of `atest.core.sandbox.settings.resolve`."""
        return {
            "isolation": self.isolation,
            "executor": self.executor,
            "max_batch": self.batch,
            "url": self.url,
        }


class TrainConfig(_Strict):
    mode: str  # a name in the mode registry (checked there, with the mode's own requirements)
    seed: int = 0
    tasks: str | None = None  # None: the bundled sample
    max_tasks: int | None = Field(None, ge=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # CPU threads for torch in the training process (None: torch's default, one per core). On a
    # busy machine (a test suite, other jobs) spinning threads make a step many times slower, so
    # the CPU presets use 1; a run alone on the machine is faster with the default (`atest demo`).
    threads: int | None = Field(None, ge=1)
    test_model: ModelSection
    code_model: ModelSection | None = None  # utrl / codegen: the code generator under training
    grpo: GrpoSection = Field(default_factory=GrpoSection)
    utrl: UtrlSection = Field(default_factory=UtrlSection)
    atgen: AtgenSection = Field(default_factory=AtgenSection)
    codegen: CodegenSection = Field(default_factory=CodegenSection)
    sft: SftSection = Field(default_factory=SftSection)
    validation: ValidationSection = Field(default_factory=ValidationSection)
    sandbox: SandboxSection = Field(default_factory=SandboxSection)
    fast: FastSection = Field(default_factory=FastSection)  # the fast CPU path (training/fastpath.py)


def config_dir() -> Path:
    """The configs shipped inside the package (so an installed wheel has its presets), or
    `$ATEST_CONFIG_DIR` to use another folder of the same layout."""
    override = os.environ.get(CONFIG_DIR_ENV)
    return Path(override) if override else Path(str(resources.files("atest").joinpath("configs")))


def valid_keys(model: type[BaseModel] = TrainConfig, prefix: str = "") -> list[str]:
    """Every dotted key `--set` accepts, for the error message that lists them."""
    keys: list[str] = []
    for name, info in model.model_fields.items():
        sub = _submodel(info.annotation)
        if sub is not None:
            keys.extend(valid_keys(sub, f"{prefix}{name}."))
        else:
            keys.append(f"{prefix}{name}")
    return keys


def _submodel(annotation: Any) -> type[BaseModel] | None:
    """The section class of a field (also through `X | None`); None for values, lists and mappings."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if getattr(annotation, "__origin__", None) in (list, dict):
        return None
    for arg in get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def _walk(loc: Sequence[str | int]) -> tuple[list[str | int], type[BaseModel] | None]:
    """The part of an error location that names config keys (pydantic appends union members such
    as `list[str]`), and the section it ends in; a list index steps into the list's entries."""
    model: type[BaseModel] | None = TrainConfig
    path: list[str | int] = []
    for part in loc:
        if isinstance(part, int):
            path.append(part)
            continue
        if model is None or part not in model.model_fields:
            break
        path.append(part)
        annotation = model.model_fields[part].annotation
        if getattr(annotation, "__origin__", None) is list:
            annotation = get_args(annotation)[0]
        model = _submodel(annotation)
    return path, model


def _closest(key: str, keys: list[str]) -> str | None:
    """A likely intended key: same initials (lr -> learning_rate), a prefix, or a close spelling."""
    leaf = key.rsplit(".", 1)[-1].lower()
    for candidate in keys:
        words = candidate.rsplit(".", 1)[-1].split("_")
        if len(words) > 1 and "".join(w[0] for w in words) == leaf:
            return candidate
    prefixed = [k for k in keys if k.rsplit(".", 1)[-1].startswith(leaf)]
    if len(leaf) >= 3 and prefixed:
        return prefixed[0]
    close = difflib.get_close_matches(key, keys, n=1, cutoff=0.75)
    return close[0] if close else None


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def read_yaml(path: Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a config file, following its `base:` chain (paths relative to the file)."""
    path = path.resolve()
    if path in _seen:
        raise InputError(f"{path}: 'base' chain loops back to itself")
    if not path.is_file():
        raise InputError(f"{path}: no such config file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(
            f"{path}: not valid YAML ({exc.__class__.__name__}: {exc})".replace("\n", " ")
        ) from exc
    if not isinstance(data, dict):
        raise InputError(f"{path}: a config file must be a YAML mapping")
    if isinstance(data.get("tasks"), str) and not Path(data["tasks"]).expanduser().is_absolute():
        data["tasks"] = str((path.parent / data["tasks"]).resolve())  # relative to the file naming it
    base = data.pop("base", None)
    if base is None:
        return data
    return _deep_merge(read_yaml(path.parent / str(base), (*_seen, path)), data)


def parse_override(item: str) -> tuple[list[str], Any]:
    """`a.b=3` -> (["a", "b"], 3); the value is read as YAML so numbers, booleans and lists work."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise InputError(f"--set {item!r}: expected KEY=VALUE, e.g. --set grpo.learning_rate=1e-6")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """`data` with each `--set` written in; the keys are checked when the result is validated."""
    out = _deep_merge({}, data)
    for item in overrides:
        parts, value = parse_override(item)
        node = out
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = value
    return out


def validate(data: dict[str, Any], source: str, overrides: Sequence[str] = ()) -> TrainConfig:
    """Build the config; a problem becomes one line naming the key and the file or `--set` it came from."""
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        raise _config_error(exc, source, overrides) from None


def _config_error(exc: ValidationError, source: str, overrides: Sequence[str]) -> InputError:
    """The first problem, unknown keys before bad values (a misspelt key often leaves one missing)."""
    errors = exc.errors()
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    if err["type"] == "extra_forbidden":
        path, section = _walk(err["loc"][:-1])
        prefix = "".join(f"{p}." for p in path)
        key = f"{prefix}{err['loc'][-1]}"
        keys = valid_keys(section, prefix) if section is not None else []
        close = _closest(key, keys)
        guess = f"did you mean '{close}'? " if close else ""
        where = _written_at(key, source, overrides)
        return InputError(f"{where}: unknown config key '{key}'", f"{guess}valid keys: {', '.join(keys)}")
    key = ".".join(str(p) for p in _walk(err["loc"])[0])
    where = _written_at(key, source, overrides)
    if isinstance(err["input"], dict) and (err["type"].endswith("_type") or err["type"] == "literal_error"):
        return InputError(f"{where}: config key '{key}' is a value, not a section")
    msg = str(err.get("ctx", {}).get("error", err["msg"])) if err["type"] == "value_error" else err["msg"]
    return InputError(f"{where}: config key '{key}': {msg}" if key else f"{where}: {msg}")


def _written_at(key: str, source: str, overrides: Sequence[str]) -> str:
    """`--set ITEM` when an override wrote the key or the value holding it (the last one wins), else the file."""
    path = key.split(".") if key else []
    for item in reversed(overrides):
        parts, _ = parse_override(item)
        n = min(len(parts), len(path))
        if n and parts[:n] == path[:n]:
            return f"--set {item}"
    return source


def source_file(mode: str, preset: str | None, config_file: str | Path | None) -> Path:
    """Which YAML file a run starts from; every mode has its paper file `<mode>.yaml`."""
    if config_file is not None:
        return Path(config_file)
    root = config_dir()
    if not (root / f"{mode}.yaml").is_file():
        known = sorted(p.stem for p in root.glob("*.yaml")) if root.is_dir() else []
        raise InputError(f"unknown mode {mode!r}", f"choose one of {', '.join(known) or 'none'}")
    if preset is None:
        return root / f"{mode}.yaml"
    path = root / preset / f"{mode}.yaml"
    if not path.is_file():
        known = (
            sorted(p.name for p in root.iterdir() if p.is_dir() and (p / f"{mode}.yaml").is_file())
            if root.is_dir()
            else []
        )
        raise InputError(f"no preset {preset!r} for mode {mode}", f"available: {', '.join(known) or 'none'}")
    return path


def load_config(
    mode: str,
    *,
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | None = None,
) -> TrainConfig:
    path = source_file(mode, preset, config_file)
    data = read_yaml(path)
    file_mode = data.get("mode")
    if file_mode is not None and file_mode != mode:
        raise InputError(f"{path}: config is for mode {file_mode!r}, not {mode!r}")
    data["mode"] = mode
    data = apply_overrides(data, overrides or [])
    return validate(data, str(path), overrides or [])


def dump_config(config: TrainConfig) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def load_saved_config(path: Path, overrides: list[str] | None = None) -> TrainConfig:
    """The resolved config of an existing run, with optional overrides (e.g. more steps)."""
    data = read_yaml(path)
    return validate(apply_overrides(data, overrides or []), str(path), overrides or [])


def grpo_for_iteration(config: TrainConfig, iteration: int) -> GrpoSection:
    """The GRPO section with the UTRL per-iteration overrides (1-based) applied."""
    over = _iteration_override(config, iteration)
    if over is None or not over.grpo:
        return config.grpo
    return GrpoSection.model_validate({**config.grpo.model_dump(), **over.grpo})


def steps_for_iteration(config: TrainConfig, iteration: int) -> tuple[int, int]:
    """(test-generator steps, code-generator steps) of a UTRL iteration."""
    over = _iteration_override(config, iteration)
    test = over.test_steps if over and over.test_steps is not None else config.utrl.test_steps
    code = over.code_steps if over and over.code_steps is not None else config.utrl.code_steps
    return test, code


def _iteration_override(config: TrainConfig, iteration: int) -> IterationOverride | None:
    table = config.utrl.per_iteration
    return table[iteration - 1] if 0 < iteration <= len(table) else None
