"""The one error hierarchy: every error a user can cause is a BakeryError."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

# The exit codes of every command: ok, failed (a BakeryError), usage, internal error (a bug),
# cancelled (Ctrl-C or SIGTERM, as a shell reports SIGINT).
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL, EXIT_CANCELLED = 0, 1, 2, 3, 130

# An error fails `validate` and stops every command; a warning is printed and does not.
Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Problem:
    """One finding in an input file, reported as FILE:LINE:COLUMN: CODE KEY.PATH: message.

    `code` names a rule of bakery.config.rule_codes (which makes every Problem), and `severity`
    is that rule's.
    """

    file: str
    line: int
    column: int
    code: str
    path: str
    message: str
    severity: Severity

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}: {self.code}"
        return f"{where} {self.path}: {self.message}" if self.path else f"{where} {self.message}"


# A URL in a message: scheme, then userinfo (`user:password@`), host, path, query, fragment.
_URL = re.compile(
    r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)"
    r"(?P<userinfo>[^\s/?#@\"'<>]*@)?"
    r"(?P<host>[^\s/?#\"'<>]*)"
    r"(?P<path>[^\s?#\"'<>]*)"
    r"(?P<query>\?[^\s#\"'<>]*)?"
    r"(?P<fragment>#[^\s\"'<>]*)?"
)


# Characters a terminal would act on (ANSI escapes start with ESC), or that reorder or break
# lines unseen: written as escapes wherever bakery prints text that may hold input. Line breaks
# and tabs stay, for the few messages that are more than one line (a log's tail).
_UNPRINTABLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


def printable(text: str) -> str:
    """Return `text` with control characters written as escapes (`\\x1b`), never raw."""
    return _UNPRINTABLE.sub(lambda found: ascii(found.group())[1:-1], text)


def safe_message(text: str) -> str:
    """Return an error message as bakery prints it: URLs redacted, control characters escaped."""
    return printable(redact_urls(text))


def redact_urls(text: str, *, paths: bool = True) -> str:
    """Return `text` with the user, password, query and fragment of every URL in it hidden.

    Every message and log line bakery writes passes through here (the CLI's error handler,
    `Rule.at`, notifications), so a URL from configuration never shows its credentials. With
    `paths=False` the path goes too: a webhook URL (Slack, Discord) is a credential as a whole.
    """

    def hide(found: re.Match[str]) -> str:
        whole = found.group()
        tail = whole[len(whole.rstrip(".,:;!)]")) :]  # punctuation after the URL, not in it
        match = _URL.fullmatch(whole[: len(whole) - len(tail)])
        if match is None:
            return whole
        url = match["scheme"] + ("***@" if match["userinfo"] else "") + match["host"]
        if match["path"]:
            url += match["path"] if paths else "/***"
        url += "?***" if match["query"] else ""
        return url + ("#***" if match["fragment"] else "") + tail

    return _URL.sub(hide, text)


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


class StoreError(BakeryError):
    """The lineage store cannot be read or written (full, read-only, corrupted, unreachable)."""


class InvalidInputError(BakeryError):
    """Problems in recipes or the project file, all reported together (warnings among them)."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(sorted(set(problems)))
        errors = sum(1 for problem in self.problems if problem.is_error)
        warnings = len(self.problems) - errors
        also = f" and {warnings} warning{'s' if warnings != 1 else ''}" if warnings else ""
        super().__init__(f"{errors} problem{'s' if errors != 1 else ''}{also} found")
