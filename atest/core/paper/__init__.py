"""The papers' own rules that are text functions (parsers, format checks, code cut, language
sniffing), reproduced to the letter for `--paper` (see docs/rewards.md).

atest's own rules (docs/rewards.md, docs/evaluation.md) fix defects of the authors' code; the
`atest.core.rules` object names which rule applies, and the rewards, metrics and checks take it
as a parameter, so a researcher can still reproduce the published numbers exactly and see what
each fix changes.
"""

from atest.core.rules import PAPERS

__all__ = ["PAPERS"]
