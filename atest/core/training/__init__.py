"""Adversarial RL training of test generators (UTRL, ATGEN) on TRL's GRPOTrainer.

Entry points: `runner.resolve_config` / `runner.plan_run` / `runner.execute` (what `atest
train` calls), `config.load_config`, and `run.merge.merge_lora`. The layers, each importing
only those before it:

    config      the pydantic config, YAML files, presets and `--set` (knows no mode)
    run/        the run folder, the launch's processes, the export
    trainer/    the TRL seam: GRPOConfig, policies, one GRPO phase
    phases/     the loops and what they share (sampling, rewards, validation, curriculum)
    modes/      one module per mode and the registry; a mode picks and parameterises phases
    runner      checks a run against its mode, then hands it the run folder and sandbox

Heavy libraries (torch, transformers, TRL) are imported only where a model is actually
built, so the checks stay fast.
"""
