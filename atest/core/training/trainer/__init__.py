"""The TRL seam: everything between atest's config and TRL's trainers.

`grpo` turns the config into TRL's `GRPOConfig`, loads policies, and runs one GRPO phase on a
`GRPOTrainer` subclass (step timing, live row refresh, extra checkpoint state); `compat` mends
what differs between transformers releases; `vllm_cpu` lets TRL's colocated vLLM run on CPU.
Nothing here knows a mode: the modes' phases call it.
"""
