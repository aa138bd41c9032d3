"""Easy programming tasks generated from families, for held-out studies a small model can score on.

`families` holds the problems (a gold program, input makers and hand-written bugs per family);
`build` runs them in the sandbox into verified tasks and splits them by family and by instance.
See docs/data.md ("Generated easy tasks").
"""

from atest.core.synth.build import SOURCE, SPLITS, SynthSummary, family_names, generate_tasks, split_tasks
from atest.core.synth.families import FAMILIES, Family, Instance

__all__ = [
    "FAMILIES",
    "SOURCE",
    "SPLITS",
    "Family",
    "Instance",
    "SynthSummary",
    "family_names",
    "generate_tasks",
    "split_tasks",
]
