"""Template strings split into literal text and interpolations, without evaluating anything.

HCL2 quoted strings (as python-hcl2 gives them: the source text between the quotes, escapes not
yet decoded) hold `${ ... }` interpolations and `%{ ... }` directives; `$${` and `%%{` are the
literal `${` and `%{`. Both HCL2 and JSON strings may hold `{{ ... }}` Go templates, which Packer
still evaluates (`{{timestamp}}`, ``{{user `x`}}``).
"""

from __future__ import annotations

from bakery.convert.template import Interpolation, Part, Text, Where

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


class StringSyntaxError(ValueError):
    """A string python-hcl2 accepted that bakery cannot split (an unclosed `${`)."""


def hcl_text(raw: str, where: Where) -> Text:
    """Split the text of an HCL2 quoted string (without its quotes) into parts."""
    parts: list[Part] = []
    literal: list[str] = []
    index, size = 0, len(raw)
    while index < size:
        char = raw[index]
        if char == "\\" and index + 1 < size:
            decoded, index = _escape(raw, index)
            literal.append(decoded)
            continue
        if raw.startswith(("$${", "%%{"), index):
            literal.append(raw[index + 1 : index + 3])
            index += 3
            continue
        if raw.startswith(("${", "%{"), index):
            end = closing_brace(raw, index + 2)
            if end < 0:
                raise StringSyntaxError(f"{raw[index : index + 2]} is not closed")
            parts.extend(go_parts("".join(literal)))
            literal = []
            code = raw[index + 2 : end].strip().strip("~").strip()
            parts.append(Interpolation(code, "hcl" if char == "$" else "directive"))
            index = end + 1
            continue
        literal.append(char)
        index += 1
    parts.extend(go_parts("".join(literal)))
    return Text(_joined(parts), where)


def _escape(raw: str, index: int) -> tuple[str, int]:
    """Decode the escape at raw[index] (a backslash); return the text and the next index."""
    code = raw[index + 1]
    if code in _ESCAPES:
        return _ESCAPES[code], index + 2
    width = {"u": 4, "U": 8}.get(code)
    if width is not None:
        digits = raw[index + 2 : index + 2 + width]
        if len(digits) == width and all(c in "0123456789abcdefABCDEF" for c in digits):
            point = int(digits, 16)
            if point <= 0x10FFFF and not 0xD800 <= point < 0xE000:
                return chr(point), index + 2 + width
    return raw[index : index + 2], index + 2


def closing_brace(raw: str, start: int) -> int:
    """The index of the `}` that closes a `${` or `{` whose contents begin at `start`; -1 if
    none. Braces inside quoted strings (and their escapes) do not count."""
    depth = 1
    index, size = start, len(raw)
    while index < size:
        char = raw[index]
        if char == '"':
            index = _string_end(raw, index + 1)
            if index < 0:
                return -1
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    return -1


def _string_end(raw: str, start: int) -> int:
    """The index after the `"` closing a string that begins at `start`; -1 if none."""
    index, size = start, len(raw)
    while index < size:
        char = raw[index]
        if char == "\\":
            index += 2
            continue
        if char == '"':
            return index + 1
        if raw.startswith("${", index):
            end = closing_brace(raw, index + 2)
            if end < 0:
                return -1
            index = end + 1
            continue
        index += 1
    return -1


def go_parts(text: str) -> list[Part]:
    """Split literal text at its `{{ ... }}` Go templates."""
    parts: list[Part] = []
    index = 0
    while True:
        start = text.find("{{", index)
        if start < 0:
            break
        end = text.find("}}", start + 2)
        if end < 0:
            break
        if start > index:
            parts.append(text[index:start])
        code = text[start + 2 : end].strip()
        # {{- x -}} trims spaces around it in Go; the trimming is not kept
        code = code.removeprefix("-").removesuffix("-").strip()
        parts.append(Interpolation(code, "go"))
        index = end + 2
    if index < len(text):
        parts.append(text[index:])
    return parts


def go_text(text: str, where: Where) -> Text:
    """A JSON template's string: literal text and its Go templates."""
    return Text(_joined(go_parts(text)), where)


def _joined(parts: list[Part]) -> tuple[Part, ...]:
    """Adjacent literal parts joined, empty ones dropped."""
    out: list[Part] = []
    for part in parts:
        if isinstance(part, str):
            if not part:
                continue
            if out and isinstance(out[-1], str):
                out[-1] = out[-1] + part
                continue
        out.append(part)
    return tuple(out)
