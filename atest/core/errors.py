"""Errors that reach the user as one line, with the fix, and a documented exit code."""

from __future__ import annotations

# Exit codes, shared by every command (documented in the README).
EXIT_OK = 0
EXIT_THRESHOLD = 1  # a gate was not met (e.g. `filter --min-pass`)
EXIT_BAD_INPUT = 2  # usage error, unreadable or invalid input, missing model
EXIT_EXTERNAL = 3  # an outside service failed (API outage, server gone) after retries


class AtestError(Exception):
    """A failure the user can fix; the CLI prints `error: <message>` and exits with `exit_code`."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class InputError(AtestError):
    """Bad input: a missing or malformed file, record, config key or option."""


class ExternalError(AtestError):
    """An outside service (inference server, hosted API) failed after retries."""

    exit_code = EXIT_EXTERNAL
