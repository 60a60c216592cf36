"""Find credentials written into recipes, scripts and files before they are baked into an image."""

from __future__ import annotations

import re

from bakery.config import rule_codes as rc
from bakery.config.rule_codes import Rule
from bakery.errors import Problem

ALLOW_MARKER = re.compile(r"(#|//|--|;)\s*bakery:\s*allow-secret\s*$")

# (pattern, what it finds, its rule); the first that matches a line reports it.
_RULES: tuple[tuple[re.Pattern[str], str, Rule], ...] = (
    (
        re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|AIDA|AROA)[0-9A-Z]{16}\b"),
        "an AWS access key id",
        rc.SECRET_ACCESS_KEY_ID,
    ),
    (
        re.compile(
            r"(?i)\baws_?secret(?:_?access)?_?key\b[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])"
        ),
        "an AWS secret access key",
        rc.SECRET_ACCESS_KEY,
    ),
    (
        re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),
        "a private key block",
        rc.SECRET_PRIVATE_KEY,
    ),
    (
        re.compile(
            r"(?i)(?<![A-Za-z0-9])(?:[A-Za-z0-9]+_)*(?:password|passwd|pwd|token|secret|api_?key|auth_?key)"
            r"(?![A-Za-z0-9])[\"']?\s*[:=]\s*"
            r"(?![\"']?\$)(?![\"']?\s*$)[\"']?[^\s\"'$<>{}]{4,}"
        ),
        "a password or token literal",
        rc.SECRET_LITERAL,
    ),
)


def scan_text(text: str, file: str) -> list[Problem]:
    """Return a Problem for each line of `text` that seems to hold a secret."""
    problems: list[Problem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if ALLOW_MARKER.search(line):
            continue
        for pattern, what, rule in _RULES:
            match = pattern.search(line)
            if match:
                problems.append(
                    rule.at(
                        file,
                        number,
                        match.start() + 1,
                        "",
                        f"possible secret: {what}; remove it (fetch it at boot from SSM Parameter "
                        f"Store or Secrets Manager) or end the line with '# bakery: allow-secret'",
                    )
                )
                break
    return problems


def scan_bytes(data: bytes, file: str) -> list[Problem]:
    """Scan a file's bytes; binary files (a NUL byte or not UTF-8) are skipped."""
    if b"\0" in data:
        return []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return []
    return scan_text(text, file)
