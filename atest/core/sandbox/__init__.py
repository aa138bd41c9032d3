"""Running untrusted programs: the executor contract, the fork-server sandbox, and the judge."""

from atest.core.sandbox.executor import ISOLATIONS, ForkServerExecutor, get_executor
from atest.core.sandbox.judge import DEFAULT_TOLERANCE, judge, limits_from_gold, outputs_match
from atest.core.sandbox.types import Execution, Executor, Job, Limits, Program, Status, Verdict, input_key

__all__ = [
    "DEFAULT_TOLERANCE",
    "ISOLATIONS",
    "Execution",
    "Executor",
    "ForkServerExecutor",
    "Job",
    "Limits",
    "Program",
    "Status",
    "Verdict",
    "get_executor",
    "input_key",
    "judge",
    "limits_from_gold",
    "outputs_match",
]
