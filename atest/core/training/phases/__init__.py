"""The phases the modes are made of, and the pieces they share.

The loops: `utrl_loop` (opponents, test training, test generation, code training), `atgen_loop`
(one GRPO run against live buggy code, with `adversary`'s curriculum), `codegen_loop` and
`sft_loop`. Shared: `sampling` (resumable generation), `judging` (gold verdicts),
`reward_fns` (the rewards as TRL reward functions) and `validation` (validation during a phase
and the checkpoint it exports). A mode (`modes/`) picks and parameterises them; no phase knows
which mode runs it.
"""
