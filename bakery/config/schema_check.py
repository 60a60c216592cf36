"""Check a marked YAML document against a JSON Schema and say each finding plainly."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from bakery.config import rule_codes as rc
from bakery.config import schema as s
from bakery.config.marks import MarkedDocument, PathKey
from bakery.config.rule_codes import Rule
from bakery.errors import Problem

_PATTERN_MESSAGES = {
    s.NAME_PATTERN: "must be lowercase letters, digits and hyphens, not starting with a hyphen",
    s.SEMVER_PATTERN: "is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.2.3)",
    s.AMI_PATTERN: "is not an AMI id (ami- followed by 8 or 17 hex digits)",
    s.REGION_PATTERN: "is not an AWS region (e.g. us-east-1)",
    s.ACCOUNT_PATTERN: "is not a 12-digit AWS account id (quote it)",
    s.DURATION_PATTERN: "is not a duration (e.g. 30d, 90m, 1h30m, 45s)",
    s.DELAY_PATTERN: "is not a duration (e.g. 0s, 30s, 2m)",
    s.ENV_NAME_PATTERN: "is not a valid environment variable name",
    s.KMS_PATTERN: "is not a KMS key: a key id (a UUID or mrk-...), alias/NAME, or the ARN "
    "of a key or an alias",
    s.RULE_CODE_PATTERN: "is not a rule code (E or W and four digits, e.g. W2001)",
    s.NOT_BLANK_PATTERN: "must not be blank",
    s.PARAMETER_NAME_PATTERN: "is not a parameter name (lowercase letters, digits and _, not "
    "starting with a digit)",
    s.RECIPE_REF_PATTERN: "is not a recipe: a name, an instance name, or NAME[param=value,...]",
    s.REMOTE_PATH_PATTERN: "is not a path on the instance: it may not end in . or .. (name a "
    "folder with a trailing /)",
    s.DOWNLOAD_PATTERN: "is not one file on the instance: no wildcard (* ? [), no trailing /",
    s.ARTIFACT_PATTERN: "is not a file name under artifacts/: letters, digits, . _ - and /, "
    "no .. and no part starting with a dot",
    s.SHEBANG_PATTERN: "is not an interpreter line: an absolute path and up to 4 plain "
    "arguments, e.g. /bin/bash -e",
    s.ORG_ARN_PATTERN: "is not an organization ARN (arn:aws:organizations::ACCOUNT:"
    "organization/o-...)",
    s.OU_ARN_PATTERN: "is not an organizational unit ARN (arn:aws:organizations::ACCOUNT:"
    "ou/o-.../ou-...)",
}
_REFUSED = re.compile(s.REFUSED_CHARACTERS)
_LINE_BREAKS = "\n\r\x0b\x0c\x85\u2028\u2029"
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "number": "a number",
}


def check_shape(doc: MarkedDocument, schema: dict[str, Any]) -> list[Problem]:
    """Return every way `doc` breaks `schema`, each at its file:line:col with its rule."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema)
    problems, refused = _character_problems(doc)
    for error in validator.iter_errors(doc.data):
        path: PathKey = tuple(error.absolute_path)
        key_path = (*path, error.instance) if "propertyNames" in error.relative_schema_path else ()
        if any(_within(where, bad) for bad in refused for where in (path, key_path) if where):
            continue  # the character is reported already; its format would only repeat it
        template = error.validator == "pattern" and error.validator_value == s.NO_TEMPLATE_PATTERN
        if template:
            where = key_path or path
            problems.append(
                doc.problem(
                    rc.GO_TEMPLATE,
                    where,
                    "contains '{{', which Packer would evaluate as a template; remove it",
                )
            )
            continue
        if "propertyNames" in error.relative_schema_path:
            rule = rc.RESERVED_TAG if error.validator == "not" else rc.BAD_KEY
            problems.append(
                doc.problem(
                    rule,
                    (*path, error.instance),
                    _explain_key(error.validator, error.validator_value, error.instance),
                )
            )
            continue
        rule = keyword_rule(str(error.validator))
        for where, message in _explain(
            error.validator, error.validator_value, error.instance, error.schema, path
        ):
            if not any(_within(where, bad) for bad in refused):
                problems.append(doc.problem(rule, where, message))
    return problems


def _character_problems(doc: MarkedDocument) -> tuple[list[Problem], list[PathKey]]:
    """Find each key and string holding a character of REFUSED_CHARACTERS, and their paths."""
    problems: list[Problem] = []
    refused: list[PathKey] = []

    def visit(value: Any, path: PathKey) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                child = (*path, key)
                if isinstance(key, str) and _check(key, child, is_key=True):
                    continue
                visit(item, child)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                visit(item, (*path, index))
        elif isinstance(value, str):
            _check(value, path, is_key=False)

    def _check(text: str, path: PathKey, *, is_key: bool) -> bool:
        tab_ok = not is_key and any(_matches(path, glob) for glob in s.TAB_ALLOWED)
        text_ok = not is_key and any(_matches(path, glob) for glob in s.TEXT_ALLOWED)
        for found in _REFUSED.finditer(text):
            char = found.group()
            if (char == "\t" and tab_ok) or (char in "\t\n" and text_ok):
                continue
            refused.append(path)
            problems.append(
                doc.problem(
                    rc.CONTROL_CHARACTER, path, _character_message(char, path, is_key, tab_ok)
                )
            )
            return True
        return False

    visit(doc.data, ())
    return problems, refused


def _character_message(char: str, path: PathKey, is_key: bool, tab_ok: bool) -> str:
    shown = escape_character(char)
    what = "the key" if is_key else "the value"
    if char in _LINE_BREAKS:
        if tab_ok:
            advice = "an inline command is one line: write each line as its own list item"
        else:
            advice = "write it on one line"
        return f"{what} holds a line break ({shown}); {advice}"
    if char in _BIDI:
        return (
            f"{what} holds a bidirectional control ({shown}), which shows text in another order "
            "than it is read; remove it"
        )
    kind = "a tab" if char == "\t" else "a control character"
    return f"{what} holds {kind} ({shown}); remove it"


def escape_character(char: str) -> str:
    """Write one character as its Python escape: `\\x1b`, `\\n`, `\\u202e`."""
    return repr(char)[1:-1] if not char.isprintable() else char


def _matches(path: PathKey, glob: tuple[str, ...]) -> bool:
    return len(path) == len(glob) and all(
        part == "*" or part == step for part, step in zip(glob, path, strict=True)
    )


def _within(path: PathKey, parent: PathKey) -> bool:
    return path[: len(parent)] == parent


def keyword_rule(keyword: str) -> Rule:
    """Return the rule of a finding of the JSON Schema keyword `keyword`."""
    return rc.SCHEMA_KEYWORDS.get(keyword, rc.SCHEMA_OTHER)


def _explain(
    kind: Any, expected: Any, value: Any, schema: dict[str, Any], path: PathKey
) -> Iterator[tuple[PathKey, str]]:
    if kind == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        for key in value:
            if key not in allowed:
                hint = f"; expected one of: {', '.join(allowed)}" if allowed else ""
                yield (*path, key), f"unknown key{hint}"
    elif kind == "required":
        for key in expected:
            if key not in value:
                yield (*path, key), "required key is missing"
    elif kind == "type":
        kinds = expected if isinstance(expected, list) else [expected]
        wanted = " or ".join(_TYPE_NAMES.get(k, str(k)) for k in kinds)
        hint = " (quote it)" if expected == "string" and isinstance(value, int | float) else ""
        yield path, f"must be {wanted}, not {_describe(value)}{hint}"
    elif kind == "pattern":
        durations = (s.DURATION_PATTERN, s.DELAY_PATTERN)
        if expected == s.DURATION_PATTERN and re.fullmatch(s.DELAY_PATTERN, value):
            yield path, f"{value!r} is zero; give a duration greater than zero (e.g. 30m)"
            return
        if expected in durations and re.fullmatch(r"([0-9]+[dhms])+", value):
            yield path, f"{value!r} is too long a duration; write each part in at most 6 digits"
            return
        message = _PATTERN_MESSAGES.get(expected, f"does not match {expected}")
        yield path, f"{value!r} {message}"
    elif kind == "enum":
        yield path, f"{value!r} is not one of: {', '.join(map(str, expected))}"
    elif kind == "oneOf":
        kinds = [sub["required"][0] for sub in expected]
        given = [k for k in kinds if isinstance(value, dict) and k in value]
        found = f" (found {', '.join(given)})" if given else ""
        yield path, f"needs exactly one of: {', '.join(kinds)}{found}"
    elif kind == "anyOf":
        yield path, f"{value!r} is not allowed here"
    elif kind in ("maxProperties", "maxItems"):
        yield path, f"has {len(value)} entries; at most {expected} are allowed"
    elif kind == "minLength":
        yield path, "must not be empty"
    elif kind == "maxLength":
        yield path, f"is {len(value)} characters long; at most {expected} are allowed"
    elif kind == "minItems":
        yield path, f"needs at least {expected} item{'s' if expected != 1 else ''}"
    elif kind == "uniqueItems":
        yield path, "has duplicate items"
    elif kind in ("minimum", "maximum"):
        yield path, f"{value!r} is out of range ({kind} {expected})"
    else:
        yield path, f"{value!r} is invalid ({kind} {expected})"


def _explain_key(kind: Any, expected: Any, key: str) -> str:
    if kind == "pattern":
        return f"{key!r} {_PATTERN_MESSAGES.get(expected, f'does not match {expected}')}"
    if kind == "maxLength":
        return f"key is {len(key)} characters long; at most {expected} are allowed"
    if kind == "minLength":
        return "key must not be empty"
    if kind == "not":
        if ":" not in key:
            return f"the tag {key!r} is set by bakery (the AMI name); choose another key"
        return f"keys starting with '{key.split(':', 1)[0].lower()}:' are reserved; rename it"
    return f"{key!r} is not a valid key"


def _describe(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "a boolean"
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        int: "an integer",
        float: "a number",
    }.get(type(value), type(value).__name__)
