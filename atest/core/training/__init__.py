"""Adversarial RL training of test generators (UTRL, ATGEN) on TRL's GRPOTrainer.

Entry points: `runner.plan_run` / `runner.execute` (what `atest train` calls),
`config.load_config`, and `merge.merge_lora`. Heavy libraries (torch, transformers, TRL)
are imported only where a model is actually built, so the checks stay fast.
"""
