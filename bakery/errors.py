"""The one error hierarchy: every error a user can cause is a BakeryError."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# The exit codes of every command: ok, failed (a BakeryError), usage, internal error (a bug),
# cancelled (Ctrl-C or SIGTERM, as a shell reports SIGINT).
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL, EXIT_CANCELLED = 0, 1, 2, 3, 130


@dataclass(frozen=True, order=True)
class Problem:
    """One finding in an input file, reported as FILE:LINE:COLUMN: KEY.PATH: message."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class BakeryError(Exception):
    """An error a user can act on; its one-line message says what, where and what to do."""

    exit_code = 1


class UsageError(BakeryError):
    """The command line itself is wrong."""

    exit_code = 2


class ProjectError(BakeryError):
    """bakery.yaml is missing or invalid."""


class PackerError(BakeryError):
    """Packer is missing or a Packer command failed."""


class InvalidInputError(BakeryError):
    """One or more problems in recipes or the project file, all reported together."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(sorted(set(problems)))
        count = len(self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} found")
