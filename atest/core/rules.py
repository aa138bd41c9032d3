"""Which rules a reward, a metric or a check follows: atest's own, or the UTRL authors' code's.

Every point where atest departs from the UTRL authors' code (docs/rewards.md, "Where we
deliberately differ from the papers' code") is one named field here, and the rewards, metrics
and checks take a `Rules` and branch on its fields: `--paper utrl` is `rules=UTRL` passed to the
same functions, not a second copy of them. The fields say *which* rule applies; the rules
themselves live where they belong (the authors' parser, format checks, code cut and language
sniffer in `atest.core.paper.utrl`, atest's in `atest.core.parsing`, the verdict in
`atest.core.checking`). Reward weights are not rules: they come from the reward config
(`UtrlRewardConfig`, the `utrl.*` keys of a training config) under both, and its defaults are
the paper's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from atest.core.errors import InputError
from atest.core.sandbox.wire import Harness, Limits


@dataclass(frozen=True)
class Rules:
    name: str

    # Reading a test generator's response.
    parser: Literal["atest", "utrl"]  # atest: lenient layouts; utrl: the authors' one regex
    # What makes two of a response's tests one: the same input (atest) or the same
    # (input, output) (utrl, whose best-of-N keeps even those).
    duplicates: Literal["input", "test"]
    test_format: Literal["atest", "utrl"]  # atest: a non-empty reasoning block before each test, all closed
    input_cap: bool  # inputs over MAX_INPUT_CHARS are invalid and never run
    # Valid tests but no opponent at all: discrimination 0 (atest), or every component 0
    # (utrl: their division by zero, caught by a bare `except`).
    no_opponent_zeroes_all: bool
    components: Literal["atest", "utrl"]  # the reward components' names

    # The code generator's response.
    code_extraction: Literal["atest", "utrl"]  # atest: the last python block or none; utrl: their split
    code_format: Literal["atest", "utrl"]
    pass_rate_epsilon: float  # added to the valid-test count in the pass rate's denominator

    # Running and judging a program.
    stdio_only: bool  # functional tasks refused (the authors' code dropped them)
    language_sniffing: bool  # code the authors' sniffer takes for another language fails every test
    compare: Literal["tokens", "text"]  # atest: token-wise, floats by value; utrl: stripped text
    require_empty_stderr: bool  # anything on stderr fails the test
    require_output: bool  # an empty (stripped) stdout fails the test
    # The runner's own rules, carried by every program to the sandbox: stdin with a final
    # newline added or exactly as parsed, and the prelude (atest's names that never shadow a
    # builtin, or the authors' star-import header and nothing else).
    harness: Harness
    limits: Limits  # the default limits (the time limit): `--cpu-seconds`/`--memory-mb` override them

    # Best-of-N.
    tie: Literal["expected", "first", "last"]
    first_as_written_without_tests: bool  # no parsed test: candidate 0 as written (not cut out)


ATEST = Rules(
    name="atest",
    parser="atest",
    duplicates="input",
    test_format="atest",
    input_cap=True,
    no_opponent_zeroes_all=False,
    components="atest",
    code_extraction="atest",
    code_format="atest",
    pass_rate_epsilon=0.0,
    stdio_only=False,
    language_sniffing=False,
    compare="tokens",
    require_empty_stderr=False,
    require_output=False,
    harness=Harness(),
    limits=Limits(),
    tie="expected",
    first_as_written_without_tests=False,
)

UTRL = Rules(
    name="utrl",
    parser="utrl",
    duplicates="test",
    test_format="utrl",
    input_cap=False,
    no_opponent_zeroes_all=True,
    components="utrl",
    code_extraction="utrl",
    code_format="utrl",
    pass_rate_epsilon=1e-6,
    stdio_only=True,
    language_sniffing=True,
    compare="text",
    require_empty_stderr=True,
    require_output=True,
    harness=Harness(stdin_newline=False, prelude="utrl"),
    limits=Limits(cpu_seconds=10.0, wall_seconds=10.0),  # their subprocess timeout: 10 s of wall clock
    tie="last",
    first_as_written_without_tests=True,
)

RULES: dict[str, Rules] = {r.name: r for r in (ATEST, UTRL)}
PAPERS: tuple[str, ...] = tuple(name for name in RULES if name != "atest")


def rules_named(name: str | None) -> Rules:
    """The rules of `--paper NAME` (None: atest's own)."""
    if name is None:
        return ATEST
    if name not in PAPERS:
        raise InputError(f"--paper {name!r}: expected one of {', '.join(PAPERS)}")
    return RULES[name]
