"""An HCL2 template (or an HCL var file) read through python-hcl2 into plain values with lines.

python-hcl2 gives each attribute's value as text (`"\\"x\\""` for a string, `${var.x}` for an
expression); its parse tree keeps the line of every attribute and block, and where a version of
it does not, the line is found by searching the source for the attribute or block from where its
parent stands.
"""

from __future__ import annotations

import re
from typing import Any

from bakery.convert.strings import StringSyntaxError, hcl_text
from bakery.convert.template import (
    Block,
    Body,
    Build,
    Entry,
    Expression,
    Items,
    Scalar,
    SourceUse,
    Template,
    Text,
    Value,
    Variable,
    Where,
)
from bakery.errors import BakeryError


class _Lines:
    """Finds the line of an attribute or block in the source when the parse tree lacks it."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def find(self, name: str, after: int) -> int:
        pattern = re.compile(rf'\s*"?{re.escape(name)}"?\s*(=|\{{|")')
        for number in range(max(after, 1), len(self.lines) + 1):
            if pattern.match(self.lines[number - 1]):
                return number
        return max(after, 1)


_NO_LINES = _Lines("")


def parse_hcl(text: str, file: str) -> tuple[list[Any], _Lines]:
    """Parse HCL2 text; return the top-level rules (attributes and blocks) and a line finder.

    Raise BakeryError (FILE:LINE:COL: why) on text python-hcl2 refuses.
    """
    import hcl2

    try:
        tree = hcl2.parses(text)
    except RecursionError:
        raise BakeryError(f"{file}: nested too deeply to read") from None
    except Exception as error:  # lark's errors, and whatever a hostile file makes it raise
        raise BakeryError(_parse_error(file, error)) from None
    return _rules(tree.body), _Lines(text)


def _parse_error(file: str, error: Exception) -> str:
    from bakery.convert.findings import one_line

    line, column = getattr(error, "line", None), getattr(error, "column", None)
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    where = f"{file}:{line}:{column}" if isinstance(line, int) and isinstance(column, int) else file
    return one_line(f"{where}: not valid HCL2: {first[:200]}")


def _rules(body: Any) -> list[Any]:
    from hcl2.rules.base import AttributeRule, BlockRule

    return [c for c in body.children if isinstance(c, AttributeRule | BlockRule)]


def _options() -> Any:
    from hcl2.utils import SerializationOptions

    return SerializationOptions(with_comments=False, preserve_heredocs=False)


def _position(rule: Any, lines: _Lines, name: str, after: int) -> tuple[int, int]:
    meta = getattr(rule, "_meta", None)
    line, column = getattr(meta, "line", None), getattr(meta, "column", None)
    if isinstance(line, int) and isinstance(column, int):
        return line, column
    return lines.find(name, after), 1


def _label(rule: Any) -> str:
    raw = rule.serialize(_options())
    if isinstance(raw, str) and len(raw) >= 2 and raw[0] == raw[-1] == '"':
        literal = hcl_text(raw[1:-1], Where("", 0)).literal
        return literal if literal is not None else raw[1:-1]
    return str(raw)


def _body(rules: list[Any], file: str, lines: _Lines, where: Where, block: bool) -> Body:
    from hcl2.rules.base import AttributeRule

    entries: list[Entry] = []
    after = where.line
    for rule in rules:
        if isinstance(rule, AttributeRule):
            name = str(rule.identifier.serialize(_options()))
            line, column = _position(rule, lines, name, after)
            here = Where(file, line, column)
            try:
                value = _expression(rule.expression, here)
            except StringSyntaxError as error:
                raise BakeryError(f"{file}:{line}:{column}: {name}: {error}") from None
            entries.append(Entry(name, value, here))
        else:
            labels = [_label(label) for label in rule.labels]
            kind, rest = labels[0], tuple(labels[1:])
            line, column = _position(rule, lines, kind, after)
            here = Where(file, line, column)
            inner = _body(_rules(rule.body), file, lines, here, True)
            entries.append(Entry(kind, inner, here, rest))
        after = line + 1
    return Body(tuple(entries), where, block)


def _expression(rule: Any, where: Where) -> Value:
    """An attribute's value: an object keeps the line of each of its keys (tags = {...})."""
    from hcl2.rules.containers import ObjectRule

    inner = getattr(rule, "expression", None)
    if isinstance(inner, ObjectRule) and not getattr(rule, "parentheses", False):
        entries = []
        for element in inner.elements:
            line, column = _position(element, _NO_LINES, "", where.line)
            here = Where(where.file, line, column) if line >= where.line else where
            raw = str(element.key.serialize(_options()))
            key = convert_value(raw, here)
            key_text = key.literal if isinstance(key, Text) else None
            if key_text is None:  # an expression as a key: kept as written, `${var.k}`
                key_text = raw[1:-1] if raw[:1] == raw[-1:] == '"' else raw
            entries.append(Entry(key_text, _expression(element.expression, here), here))
        return Body(tuple(entries), where)
    return convert_value(rule.serialize(_options()), where)


def convert_value(raw: Any, where: Where) -> Value:
    """A value as python-hcl2 serialises it, as a plain value of bakery.convert.template."""
    if raw is None or isinstance(raw, bool | int | float):
        return Scalar(raw, where)
    if isinstance(raw, str):
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            return hcl_text(raw[1:-1], where)
        if raw.startswith("${") and raw.endswith("}"):
            return Expression(raw[2:-1].strip(), where)
        return Expression(raw, where)
    if isinstance(raw, list):
        return Items(tuple(convert_value(item, where) for item in raw), where)
    if isinstance(raw, dict):
        entries = []
        for key, item in raw.items():
            key_text = str(key)
            if key_text.startswith("__") and key_text.endswith("__"):
                continue  # python-hcl2's own markers (__is_block__, __comments__)
            if len(key_text) >= 2 and key_text[0] == key_text[-1] == '"':
                key_text = hcl_text(key_text[1:-1], where).literal or key_text[1:-1]
            entries.append(Entry(key_text, convert_value(item, where), where))
        return Body(tuple(entries), where)
    return Expression(str(raw), where)


def read_hcl_template(text: str, file: str) -> Template:
    """Read an HCL2 Packer template into a Template."""
    rules, lines = parse_hcl(text, file)
    top = _body(rules, file, lines, Where(file, 1), True)
    variables: list[Variable] = []
    local_entries: list[Entry] = []
    sources: list[Block] = []
    builds: list[Build] = []
    data: list[Block] = []
    others: list[Entry] = []
    for entry in top.entries:
        body = entry.value
        if not isinstance(body, Body) or not body.block:
            others.append(entry)
        elif entry.key == "variable" and len(entry.labels) == 1:
            variables.append(_variable(entry.labels[0], body, entry.where))
        elif entry.key == "variables" and not entry.labels:
            for item in body.entries:
                variables.append(
                    Variable(item.key, None, item.value, None, False, item.where, body)
                )
        elif entry.key == "locals" and not entry.labels:
            local_entries.extend(body.entries)
        elif entry.key == "local" and len(entry.labels) == 1 and body.get("expression"):
            value = body.get("expression")
            assert value is not None
            local_entries.append(Entry(entry.labels[0], value, entry.where))
        elif entry.key in ("source", "data") and len(entry.labels) == 2:
            block = Block(entry.key, entry.labels, body, entry.where)
            (sources if entry.key == "source" else data).append(block)
        elif entry.key == "build" and not entry.labels:
            builds.append(_build(body, entry.where))
        else:
            others.append(entry)
    return Template(
        file,
        "hcl",
        tuple(variables),
        tuple(local_entries),
        tuple(sources),
        tuple(builds),
        tuple(data),
        tuple(others),
    )


def _variable(name: str, body: Body, where: Where) -> Variable:
    kind = body.get("type")
    type_text = kind.code if isinstance(kind, Expression) else None
    description = body.get("description")
    sensitive = body.get("sensitive")
    return Variable(
        name,
        type_text,
        body.get("default"),
        description.literal if isinstance(description, Text) else None,
        isinstance(sensitive, Scalar) and sensitive.value is True,
        where,
        body,
    )


def _build(body: Body, where: Where) -> Build:
    name_value = body.get("name")
    name = name_value.literal if isinstance(name_value, Text) else None
    uses: list[SourceUse] = []
    provisioners: list[Block] = []
    post: list[Block] = []
    others: list[Entry] = []
    for entry in body.entries:
        value = entry.value
        if entry.key == "sources" and isinstance(value, Items):
            for item in value.items:
                use = _source_use(item)
                if use is None:
                    others.append(Entry("sources", item, item.where))
                else:
                    uses.append(use)
        elif entry.key == "source" and isinstance(value, Body) and len(entry.labels) == 1:
            use = _source_use(Text((entry.labels[0],), entry.where), value)
            if use is None:
                others.append(entry)
            else:
                uses.append(use)
        elif entry.key == "provisioner" and isinstance(value, Body) and len(entry.labels) == 1:
            provisioners.append(Block("provisioner", entry.labels, value, entry.where))
        elif entry.key == "post-processor" and isinstance(value, Body) and len(entry.labels) == 1:
            post.append(Block("post-processor", entry.labels, value, entry.where))
        elif entry.key == "post-processors" and isinstance(value, Body):
            for inner in value.entries:
                if isinstance(inner.value, Body) and len(inner.labels) == 1:
                    post.append(Block("post-processor", inner.labels, inner.value, inner.where))
        elif entry.key != "name":
            others.append(entry)
    return Build(name, tuple(uses), tuple(provisioners), tuple(post), where, tuple(others))


def _source_use(item: Value, settings: Body | None = None) -> SourceUse | None:
    if not isinstance(item, Text) or item.literal is None:
        return None
    parts = item.literal.split(".")
    if len(parts) != 3 or parts[0] != "source" or not all(parts):
        return None
    rename = None
    if settings is not None:
        name_value = settings.get("name")
        rename = name_value.literal if isinstance(name_value, Text) else None
        settings = Body(tuple(e for e in settings.entries if e.key != "name"), settings.where, True)
    return SourceUse(parts[1], parts[2], item.where, settings, rename)


def read_hcl_values(text: str, file: str) -> list[Entry]:
    """Read an HCL var file (`*.pkrvars.hcl`): its attributes, name = value."""
    rules, lines = parse_hcl(text, file)
    top = _body(rules, file, lines, Where(file, 1), True)
    for entry in top.entries:
        if isinstance(entry.value, Body) and entry.value.block:
            raise BakeryError(
                f"{entry.where.file}:{entry.where.line}:{entry.where.column}: a var file holds "
                f"only NAME = VALUE lines, not a {entry.key} block"
            )
    return list(top.entries)
