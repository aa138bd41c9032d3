"""Does this program pass this test: the one layer every reward, metric and loop checks through.

`record` holds the `Test` record and the notions of a usable and of the same test; `runs`
the batched runs, the verdict and the gold program; `stopping` the early-stopping runner.
"""

from atest.core.checking.pairs import PairCheck, PairVerdict, paid_attack, pair_verdict, pair_verdicts
from atest.core.checking.record import (
    MAX_INPUT_CHARS,
    By,
    Test,
    as_tests,
    distinct_tests,
    identity,
    input_size,
    runnable,
    well_formed,
)
from atest.core.checking.runs import (
    Batch,
    CodeCheck,
    Progress,
    check_task,
    completed,
    gold_program,
    pass_matrix,
    passes,
    program,
    program_under,
    run_inputs,
    verdict,
)
from atest.core.checking.stopping import STAGE_ENDS, Failure, Unit, first_failures

__all__ = [
    "MAX_INPUT_CHARS",
    "STAGE_ENDS",
    "Batch",
    "By",
    "CodeCheck",
    "Failure",
    "PairCheck",
    "PairVerdict",
    "Progress",
    "Test",
    "Unit",
    "as_tests",
    "check_task",
    "completed",
    "distinct_tests",
    "first_failures",
    "gold_program",
    "identity",
    "input_size",
    "paid_attack",
    "pair_verdict",
    "pair_verdicts",
    "pass_matrix",
    "passes",
    "program",
    "program_under",
    "run_inputs",
    "runnable",
    "verdict",
    "well_formed",
]
