"""Mutants of gold solutions: buggy code and candidate pools without an LLM, and mutation score.

The AST engine (`generate_mutants`, `derive_inputs`) needs nothing but the standard
library; classification, scoring and pools run programs through the sandbox and are
imported from their modules (`classify`, `score`, `pools`).
"""

from atest.core.mutation.generate import Mutant, generate_mutants, iter_mutants
from atest.core.mutation.operators import OPERATORS
from atest.core.mutation.probes import derive_inputs

__all__ = ["OPERATORS", "Mutant", "derive_inputs", "generate_mutants", "iter_mutants"]
