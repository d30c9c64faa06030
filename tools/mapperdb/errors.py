"""Expected failures and the exit codes they map to.

The CLI contract: 0 ok; 1 findings, drift or a failed check; 2 usage or environment error.
Anything raised as a :class:`MapperdbError` is printed as one line, never as a traceback.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


class MapperdbError(Exception):
    """An expected failure with a message a person can act on."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self.args[0])


class EnvironmentProblem(MapperdbError):
    """Something missing or unreachable on the machine: binaries, packages, a server."""


class ConfigError(MapperdbError):
    """A file or option of ours has a bad value."""


class FindingsError(MapperdbError):
    """The work ran and found problems (drift, a lock held too long, a failed stage)."""

    exit_code = EXIT_FINDINGS
