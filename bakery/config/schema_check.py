"""Check a marked YAML document against a JSON Schema and say each finding plainly."""

from __future__ import annotations

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
    s.ENV_NAME_PATTERN: "is not a valid environment variable name",
    s.KMS_PATTERN: "is not a KMS key id, alias/NAME or key ARN",
    s.RULE_CODE_PATTERN: "is not a rule code (E or W and four digits, e.g. W2001)",
    s.NOT_BLANK_PATTERN: "must not be blank",
}
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
    problems: list[Problem] = []
    for error in validator.iter_errors(doc.data):
        path: PathKey = tuple(error.absolute_path)
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
            problems.append(doc.problem(rule, where, message))
    return problems


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
        wanted = _TYPE_NAMES.get(expected, expected)
        hint = " (quote it)" if expected == "string" and isinstance(value, int | float) else ""
        yield path, f"must be {wanted}, not {_describe(value)}{hint}"
    elif kind == "pattern":
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
    elif kind == "maxProperties":
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
        return f"keys starting with '{key.split(':', 1)[0]}:' are reserved; rename it"
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
