"""The training modes, named once for the config's `mode` key, `train --mode` and `demo --mode`.

A module of its own, free of imports, so the CLI can list the modes without loading the config.
"""

from __future__ import annotations

from typing import Literal, get_args

Mode = Literal["utrl", "atgen-static", "atgen-unconditional", "atgen-adaptive", "codegen", "sft"]
MODES: tuple[str, ...] = get_args(Mode)
# The modes that train the test generator with GRPO (what the demo shows): codegen trains the
# code generator and sft is the supervised baseline.
TEST_GRPO_MODES: tuple[str, ...] = tuple(m for m in MODES if m not in ("codegen", "sft"))
