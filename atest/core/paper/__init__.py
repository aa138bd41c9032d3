"""The papers' own evaluation rules, reproduced to the letter for `--paper` (see docs/rewards.md).

atest's own rules (docs/rewards.md, docs/evaluation.md) fix defects of the authors' code; these
modules exist so a researcher can still reproduce the published numbers exactly and see what
each fix changes.
"""

PAPERS: tuple[str, ...] = ("utrl",)
