"""The one way a value enters HCL: as a literal, escaped, never evaluated.

HCL strings are templates: `${...}` and `%{...}` inside them are evaluated by Packer. A recipe
value must reach Packer as the text the user wrote, so `${` and `%{` are doubled (`$${`, `%%{`),
which HCL reads back as the literal characters. See
https://github.com/hashicorp/hcl/blob/main/hclsyntax/spec.md#template-literals
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_REFERENCE = re.compile(r"^(var|local|path)\.[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Reference:
    """A reference to a Packer variable, local or path (`var.source_ami`), written unquoted."""

    name: str

    def __post_init__(self) -> None:
        if not _REFERENCE.match(self.name):
            raise ValueError(f"not an HCL reference: {self.name!r}")


_FUNCTIONS = frozenset({"timeadd"})


@dataclass(frozen=True)
class Call:
    """A call of one of a few HCL functions (`timeadd(var.build_date, "720h")`), its arguments
    written as literals."""

    function: str
    arguments: tuple[object, ...]

    def __post_init__(self) -> None:
        if self.function not in _FUNCTIONS:
            raise ValueError(f"not an HCL function bakery writes: {self.function!r}")


@dataclass(frozen=True)
class RootPath:
    """A path relative to the template's folder, written as `"${path.root}/<path>"`."""

    relative: str


def escape_string(text: str) -> str:
    """Return `text` as a quoted HCL string literal that evaluates to exactly `text`."""
    out: list[str] = []
    for char in text:
        code = ord(char)
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif code < 0x20 or 0x7F <= code <= 0x9F or code in (0x2028, 0x2029):
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    body = "".join(out).replace("${", "$${").replace("%{", "%%{")
    return f'"{body}"'


def literal(value: object, indent: int = 0) -> str:
    """Write `value` (str, int, float, bool, list, map) as HCL; maps span lines at `indent`."""
    if isinstance(value, Reference):
        return value.name
    if isinstance(value, Call):
        return f"{value.function}(" + ", ".join(_inline(item) for item in value.arguments) + ")"
    if isinstance(value, RootPath):
        return '"${path.root}/' + escape_string(value.relative)[1:]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"HCL has no literal for {value!r}")
        return json.dumps(value)
    if isinstance(value, str):
        return escape_string(value)
    if isinstance(value, Mapping):
        return _map(value, indent)
    if isinstance(value, Sequence):
        return "[" + ", ".join(_inline(item) for item in value) + "]"
    raise TypeError(f"no HCL literal for {type(value).__name__}")


def _inline(value: object) -> str:
    if isinstance(value, Mapping):
        raise TypeError("maps inside lists are not written by bakery")
    return literal(value)


def _map(value: Mapping[object, object], indent: int) -> str:
    if not value:
        return "{}"
    pad = " " * (indent + 2)
    lines = ["{"]
    for key, item in value.items():
        if not isinstance(key, str):
            raise TypeError("HCL map keys must be strings")
        lines.append(f"{pad}{escape_string(key)} = {literal(item, indent + 2)}")
    lines.append(" " * indent + "}")
    return "\n".join(lines)


_ASSIGNMENT = re.compile(
    r'^(?P<indent> *)(?P<key>"(?:[^"\\]|\\.)*"|[A-Za-z_][A-Za-z0-9_-]*) *= *(?P<value>[^= ].*)$'
)


def align(text: str) -> str:
    """Align `=` of consecutive one-line attributes the way `packer fmt` (hclwrite) does.

    A run is broken by any other line, by a change of indent, and by an attribute whose value
    opens a multi-line expression, which hclwrite leaves unaligned.
    """
    lines = text.split("\n")
    result: list[str] = []
    run: list[re.Match[str]] = []

    def flush() -> None:
        width = max((len(m["key"]) for m in run), default=0)
        result.extend(f"{m['indent']}{m['key'].ljust(width)} = {m['value']}" for m in run)
        run.clear()

    for line in lines:
        match = _ASSIGNMENT.match(line)
        one_line = match is not None and not match["value"].endswith(("{", "[", "("))
        if match and one_line and (not run or run[0]["indent"] == match["indent"]):
            run.append(match)
            continue
        flush()
        if match and one_line:
            run.append(match)
        elif match:
            result.append(f"{match['indent']}{match['key']} = {match['value']}")
        else:
            result.append(line)
    flush()
    return "\n".join(result)
