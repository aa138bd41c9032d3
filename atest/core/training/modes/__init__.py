"""The training modes, registered once: the config's `mode` key, `train --mode` and `demo --mode`.

Every module of this package other than `base` declares its modes in a module-level `MODES`
tuple; the registry finds the modules by listing the package, so a new mode is one new module
here plus its config file (`atest/configs/<mode>.yaml`, and `cpu-smoke/<mode>.yaml` for the
smoke runs). The modules are light (see `base`), so listing the modes costs the CLI nothing.
"""

from __future__ import annotations

import importlib
import pkgutil

from atest.core.errors import InputError
from atest.core.training.modes.base import Mode


def _discover() -> dict[str, Mode]:
    found: list[Mode] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name != "base":
            found.extend(importlib.import_module(f"{__name__}.{info.name}").MODES)
    found.sort(key=lambda mode: mode.order)
    return {mode.name: mode for mode in found}


REGISTRY: dict[str, Mode] = _discover()
MODES: tuple[str, ...] = tuple(REGISTRY)
# The modes that train the test generator with GRPO (what the demo shows): codegen trains the
# code generator and sft is the supervised baseline.
TEST_GRPO_MODES: tuple[str, ...] = tuple(name for name, mode in REGISTRY.items() if mode.test_grpo)


def get_mode(name: str) -> Mode:
    """The mode called `name`; an unknown name is bad input that names the valid ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise InputError(f"unknown mode {name!r}", f"choose one of {', '.join(MODES)}") from None


__all__ = ["MODES", "REGISTRY", "TEST_GRPO_MODES", "Mode", "get_mode"]
