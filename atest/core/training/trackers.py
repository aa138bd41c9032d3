"""atest's own figures in the experiment trackers TRL reports to (`grpo.report_to`, `sft.report_to`).

TRL hands every logged step to transformers' integration callbacks (TensorBoard, W&B, MLflow,
Trackio, ...). What atest adds inside a step (adversary acceptances, the time split of the
step) rides on that log already, because `AtestGRPOTrainer.log` adds it before TRL logs. The
validation runs between steps, outside TRL's log: `report_figures` sends them to the same
integration callback objects the trainer holds, so they land in the same TensorBoard folder or
W&B run, at the trainer's step, without touching TRL's per-step metric buffers or the
trainer's log history (which a checkpoint saves).

Names follow transformers' convention: a key starting with `eval_` is shown under `eval/`, so
`val/score` in metrics.jsonl is `eval/score` in TensorBoard (TRL's own step figures are under
`train/`).
"""

from __future__ import annotations

from typing import Any

from atest.core.errors import InputError


def tracker_keys(figures: dict[str, Any]) -> dict[str, float]:
    """metrics.jsonl's `val/x` figures as transformers' eval figures `eval_x` (numbers only)."""
    out = {}
    for key, value in figures.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        out["eval_" + key.removeprefix("val/")] = float(value)
    return out


def report_figures(trainer: Any, figures: dict[str, Any]) -> None:
    """Log `figures` at the trainer's current step to its report_to integrations (main process)."""
    if trainer is None or not trainer.state.is_world_process_zero:
        return
    from transformers.integrations import INTEGRATION_TO_CALLBACK

    kinds = tuple(INTEGRATION_TO_CALLBACK.values())
    logs = tracker_keys(figures)
    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, kinds):
            callback.on_log(trainer.args, trainer.state, trainer.control, logs=logs, model=trainer.model)


def check_report_to(names: list[str], key: str) -> None:
    """Refuse a tracker that is not installed before any model is loaded (transformers would
    fail only when the trainer is built, after the model load). Looks for the package only, so
    the check costs no import; names it does not know are left to transformers."""
    import importlib.util

    for name in names:
        modules = _MODULES.get(name)
        if modules and not any(importlib.util.find_spec(m) for m in modules):
            raise InputError(
                f"{key} names {name}, which is not installed",
                f"pip install {_PACKAGES.get(name, name)}, or --set {key}=[]",
            )


def check_config_trackers(config: Any, *, grpo: bool) -> None:
    """The trackers of the trainer the run's mode builds: GRPOTrainer's when it trains with GRPO
    (`grpo`: the mode has GRPO phases), SFTTrainer's otherwise."""
    if grpo:
        check_report_to(config.grpo.report_to, "grpo.report_to")
    else:
        check_report_to(config.sft.report_to, "sft.report_to")


# The Python modules transformers looks for, per tracker (its `is_<tracker>_available`).
_MODULES = {
    "tensorboard": ("tensorboard", "tensorboardX"),
    "wandb": ("wandb",),
    "mlflow": ("mlflow",),
    "trackio": ("trackio",),
    "comet_ml": ("comet_ml",),
    "neptune": ("neptune",),
    "clearml": ("clearml",),
    "dvclive": ("dvclive",),
    "codecarbon": ("codecarbon",),
    "swanlab": ("swanlab",),
}
_PACKAGES = {"comet_ml": "comet-ml"}
