"""The schemas themselves: every pattern matches whole strings, and what the limits refuse."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from bakery.config import schema as s
from bakery.config.schema import PROJECT_SCHEMA, RECIPE_SCHEMA


def _patterns(node: Any) -> Iterator[str]:
    """Every `pattern` anywhere in a schema (properties, propertyNames, not, items, ...)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            else:
                yield from _patterns(value)
    elif isinstance(node, list):
        for item in node:
            yield from _patterns(item)


def _branches(pattern: str) -> list[str]:
    """Split a pattern at its top-level `|` (outside groups and character classes)."""
    branches, depth, start, index, in_class = [], 0, 0, 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            branches.append(pattern[start:index])
            start = index + 1
        index += 1
    return [*branches, pattern[start:]]


ALL_PATTERNS = sorted(set(_patterns(RECIPE_SCHEMA)) | set(_patterns(PROJECT_SCHEMA)))


def test_the_schemas_have_patterns() -> None:
    assert len(ALL_PATTERNS) > 10


@pytest.mark.parametrize("pattern", ALL_PATTERNS)
def test_every_pattern_is_anchored_with_A_and_Z(pattern: str) -> None:
    # jsonschema's `pattern` is re.search, and `$` matches before a trailing newline.
    for branch in _branches(pattern):
        assert branch.startswith(r"\A"), f"{pattern!r}: branch {branch!r} does not start with \\A"
        assert branch.endswith(r"\Z"), f"{pattern!r}: branch {branch!r} does not end with \\Z"
    re.compile(pattern)


@pytest.mark.parametrize(
    ("pattern", "value"),
    [
        (s.NAME_PATTERN, "evil\n"),
        (s.REGION_PATTERN, "us-east-1\n"),
        (s.AMI_PATTERN, "ami-12345678\n"),
        (s.ACCOUNT_PATTERN, "123456789012\n"),
        (s.KMS_PATTERN, "alias/k\n"),
        (s.DURATION_PATTERN, "30m\n"),
        (s.DURATION_PATTERN, "0s"),
        (s.DURATION_PATTERN, "0d0h0m0s"),
        (s.DURATION_PATTERN, "9999999d"),
        (s.ENV_NAME_PATTERN, "PATH\n"),
        (s.SEMVER_PATTERN, "1.0.0\n"),
        (s.RULE_CODE_PATTERN, "W2001\n"),
        (s.KMS_PATTERN, "1234"),
        (s.KMS_PATTERN, "arn:aws:kms:us-east-1:123456789012:key/"),
        (s.KMS_PATTERN, "arn:aws:kms:us-east-1:123456789012:other/x"),
        (s.NO_TEMPLATE_PATTERN, "a {{ env `HOME` }}"),
        (s.NO_TEMPLATE_PATTERN, "x\n{{"),
    ],
)
def test_pattern_refuses(pattern: str, value: str) -> None:
    assert re.search(pattern, value) is None


@pytest.mark.parametrize(
    ("pattern", "value"),
    [
        (s.KMS_PATTERN, "1234abcd-12ab-34cd-56ef-1234567890ab"),
        (s.KMS_PATTERN, "mrk-1234abcd12ab34cd56ef1234567890ab"),
        (s.KMS_PATTERN, "alias/aws/ebs"),
        (
            s.KMS_PATTERN,
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ),
        (s.KMS_PATTERN, "arn:aws-us-gov:kms:us-gov-west-1:123456789012:alias/images"),
        (s.DURATION_PATTERN, "1h30m"),
        (s.DELAY_PATTERN, "0s"),
        (s.NO_TEMPLATE_PATTERN, "{ one brace }"),
        (s.RESERVED_TAG_PATTERN, "AwS:x"),
        (s.RESERVED_TAG_PATTERN, "BAKERY:recipe"),
        (s.RESERVED_TAG_PATTERN, "name"),
    ],
)
def test_pattern_accepts(pattern: str, value: str) -> None:
    assert re.search(pattern, value) is not None


def test_a_tag_merely_starting_with_name_is_not_reserved() -> None:
    assert re.search(s.RESERVED_TAG_PATTERN, "Names") is None


def test_refused_characters_cover_controls_separators_and_bidi() -> None:
    refused = re.compile(s.REFUSED_CHARACTERS)
    for char in ["\0", "\t", "\n", "\r", "\x1b", "\x7f", "\x85", "\x9b", "\u2028", "\u2029"]:
        assert refused.search(char), repr(char)
    for char in ["\u202a", "\u202e", "\u2066", "\u2069", "\u200f", "\u061c"]:
        assert refused.search(char), repr(char)
    for char in [" ", "é", "☕", "\u00a0", "{", "$"]:
        assert not refused.search(char), repr(char)
