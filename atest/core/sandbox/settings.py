"""Where and how programs run, decided once: the settings object the CLI hands down.

The executor, isolation, batch size, Ray address and SandboxFusion URL come from three
places, in this order: a root flag (`atest --executor ray ...`), the environment
(`ATEST_EXECUTOR=ray`), a training config (`sandbox.executor: ray`). `resolve` reads the
three layers the caller passes it and returns one frozen `SandboxSettings`; nothing below
the CLI reads `os.environ` for them, so a library caller (a bench, a test, a verl reward
function) gets exactly the settings it passes, whatever the shell exported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from atest.core.errors import InputError
from atest.core.sandbox.forkserver import MAX_BATCH
from atest.core.sandbox.local import ISOLATIONS

__all__ = ["ENV", "PROVIDERS", "SandboxSettings", "resolve"]

PROVIDERS = ("local", "subprocess", "ray", "sandboxfusion")
# The environment variable of each setting; the token has no flag (a flag shows in `ps`).
ENV = {
    "executor": "ATEST_EXECUTOR",
    "isolation": "ATEST_SANDBOX",
    "max_batch": "ATEST_SANDBOX_BATCH",
    "ray_address": "ATEST_RAY_ADDRESS",
    "url": "ATEST_SANDBOX_URL",
    "token": "ATEST_SANDBOX_TOKEN",
}
FLAGS = {
    "executor": "--executor",
    "isolation": "--sandbox",
    "max_batch": "--sandbox-batch",
    "ray_address": "--ray-address",
    "url": "--sandbox-url",
}
# An address names its provider: given alone it selects it, beside another one it is refused.
IMPLIED = {"ray_address": "ray", "url": "sandboxfusion"}


@dataclass(frozen=True)
class SandboxSettings:
    """Every choice about where programs run, resolved; `get_executor(settings=...)` takes it."""

    executor: str = "local"
    isolation: str = "auto"
    max_batch: int = MAX_BATCH
    ray_address: str | None = None  # ray: None starts a local Ray runtime for the executor
    url: str | None = None  # sandboxfusion: the server's base URL
    token: str | None = field(
        default=None, repr=False
    )  # sandboxfusion: bearer token, if the server wants one

    def root_argv(self) -> list[str]:
        """The root flags that reproduce these settings in a child `atest` process (the demo's
        steps); the token travels in the environment the child inherits, never on a command line."""
        argv: list[str] = []
        defaults = SandboxSettings()
        for name, flag in FLAGS.items():
            value = getattr(self, name)
            if value is not None and value != getattr(defaults, name):
                argv += [flag, str(value)]
        return argv


def resolve(
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    config: Mapping[str, Any] | None = None,
) -> SandboxSettings:
    """The settings from three layers, highest first: flags, environment, config.

    Each layer maps setting names (`executor`, `isolation`, `max_batch`, `ray_address`, `url`,
    `token`) to values, None meaning "not said here"; `env` is the process environment (read
    through `ENV`). An address selects its provider when its layer names none, and a layer
    that names both an address and another provider is refused, as a contradiction.
    """
    layers = [
        ("flag", dict(flags or {})),
        ("environment", _from_env(env or {})),
        ("config", dict(config or {})),
    ]
    chosen: dict[str, Any] = {}
    for where, layer in layers:
        executor = layer.get("executor")
        for address, provider in IMPLIED.items():
            if layer.get(address) is None:
                continue
            if executor is None:
                executor = provider
            elif executor != provider:
                raise InputError(
                    f"{_name(where, address)} runs programs on {provider}, but "
                    f"{_name(where, 'executor')} is {executor!r}",
                    "drop one of the two",
                )
        layer = {**layer, "executor": executor}
        for name, value in layer.items():
            if value is not None and name not in chosen:
                _check(_name(where, name), name, value)
                chosen[name] = value
    settings = SandboxSettings(**chosen)
    if settings.executor == "sandboxfusion" and not settings.url:
        raise InputError(
            "the sandboxfusion executor needs the server's URL",
            "pass --sandbox-url http://HOST:PORT (or set $ATEST_SANDBOX_URL, or sandbox.url in a config)",
        )
    return settings


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    layer: dict[str, Any] = {name: env.get(var) or None for name, var in ENV.items()}
    batch = layer["max_batch"]
    if batch is not None:
        try:
            layer["max_batch"] = int(batch)
        except ValueError:
            raise InputError(
                f"${ENV['max_batch']}={batch!r} is not a whole number",
                "set it to 1 (a fork per execution) or more",
            ) from None
    return layer


def _name(where: str, setting: str) -> str:
    if where == "flag":
        return FLAGS.get(setting, setting)
    if where == "environment":
        return "$" + ENV[setting]
    return "sandbox." + ("batch" if setting == "max_batch" else setting)


def _check(label: str, name: str, value: Any) -> None:
    """One setting's value, named as its layer spells it (`--executor 'docker'`)."""
    allowed = {"executor": PROVIDERS, "isolation": ISOLATIONS}.get(name)
    if allowed is not None and value not in allowed:
        raise InputError(f"{label} {value!r}: use one of {', '.join(allowed)}")
    if name == "max_batch" and (not isinstance(value, int) or value < 1):
        raise InputError(f"{label} {value!r}: use 1 (a fork per execution) or more")
    if name == "url" and not str(value).startswith(("http://", "https://")):
        raise InputError(f"{label} {value!r} is not an HTTP URL", "use http://HOST:PORT or https://HOST")
