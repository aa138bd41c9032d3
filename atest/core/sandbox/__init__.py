"""Running untrusted programs: the executor contract, its providers, and the judge."""

from atest.core.sandbox.executor import ISOLATIONS, PROVIDERS, CachedExecutor, get_executor
from atest.core.sandbox.judge import DEFAULT_TOLERANCE, judge, limits_from_gold, outputs_match
from atest.core.sandbox.settings import SandboxSettings
from atest.core.sandbox.types import (
    Execution,
    Executor,
    Fault,
    Harness,
    Job,
    Limits,
    Program,
    Provider,
    Status,
    Verdict,
    input_key,
)

__all__ = [
    "DEFAULT_TOLERANCE",
    "ISOLATIONS",
    "PROVIDERS",
    "CachedExecutor",
    "Execution",
    "Executor",
    "Fault",
    "Harness",
    "Job",
    "Limits",
    "Program",
    "Provider",
    "SandboxSettings",
    "Status",
    "Verdict",
    "get_executor",
    "input_key",
    "judge",
    "limits_from_gold",
    "outputs_match",
]
