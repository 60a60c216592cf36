"""A legacy JSON template (or a JSON var file) read with the line of every key.

Python's json module gives no positions, so this is a small reader of its own over the same
grammar (strings through `json.decoder.scanstring`), nested at most 200 deep. A key given twice
keeps its last value, as Packer's Go decoder does.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right

from bakery.convert.strings import go_text
from bakery.convert.template import (
    Block,
    Body,
    Build,
    Entry,
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

MAX_DEPTH = 200
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_SPACE = re.compile(r"[ \t\n\r]*")
_STRING = re.compile(r'"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"')


class _Reader:
    def __init__(self, text: str, file: str) -> None:
        self.text, self.file = text, file
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def where(self, index: int) -> Where:
        line = bisect_right(self.starts, index)
        return Where(self.file, line, index - self.starts[line - 1] + 1)

    def fail(self, index: int, why: str) -> BakeryError:
        where = self.where(index)
        return BakeryError(f"{where.file}:{where.line}:{where.column}: not valid JSON: {why}")

    def skip(self, index: int) -> int:
        match = _SPACE.match(self.text, index)
        assert match is not None
        return match.end()

    def document(self) -> Value:
        index = self.skip(0)
        value, index = self.value(index, 0)
        index = self.skip(index)
        if index != len(self.text):
            raise self.fail(index, "extra text after the document")
        return value

    def value(self, index: int, depth: int) -> tuple[Value, int]:
        if depth > MAX_DEPTH:
            raise self.fail(index, f"nested more than {MAX_DEPTH} deep")
        if index >= len(self.text):
            raise self.fail(index, "the document ends early")
        char, where = self.text[index], self.where(index)
        if char == "{":
            return self.object(index, depth)
        if char == "[":
            items: list[Value] = []
            index = self.skip(index + 1)
            if self.text.startswith("]", index):
                return Items((), where), index + 1
            while True:
                item, index = self.value(self.skip(index), depth + 1)
                items.append(item)
                index = self.skip(index)
                if self.text.startswith(",", index):
                    index += 1
                elif self.text.startswith("]", index):
                    return Items(tuple(items), where), index + 1
                else:
                    raise self.fail(index, "expected , or ]")
        if char == '"':
            text, index = self.string(index)
            return go_text(text, where), index
        for word, meaning in (("true", True), ("false", False), ("null", None)):
            if self.text.startswith(word, index):
                return Scalar(meaning, where), index + len(word)
        match = _NUMBER.match(self.text, index)
        if match is None or not match.group():
            raise self.fail(index, "expected a value")
        number: int | float
        number = float(match.group()) if match.group(1) or match.group(2) else int(match.group())
        return Scalar(number, where), match.end()

    def string(self, index: int) -> tuple[str, int]:
        match = _STRING.match(self.text, index)
        if match is None:
            raise self.fail(index, "a string that does not end, or holds a control character")
        try:
            text: str = json.loads(match.group())
        except ValueError as error:
            raise self.fail(index, f"a string json cannot read: {error}") from None
        return text, match.end()

    def object(self, index: int, depth: int) -> tuple[Body, int]:
        where = self.where(index)
        entries: dict[str, Entry] = {}
        index = self.skip(index + 1)
        if self.text.startswith("}", index):
            return Body((), where), index + 1
        while True:
            index = self.skip(index)
            if not self.text.startswith('"', index):
                raise self.fail(index, "expected a key in double quotes")
            key_where = self.where(index)
            key, index = self.string(index)
            index = self.skip(index)
            if not self.text.startswith(":", index):
                raise self.fail(index, "expected :")
            value, index = self.value(self.skip(index + 1), depth + 1)
            entries.pop(key, None)
            entries[key] = Entry(key, value, key_where)
            index = self.skip(index)
            if self.text.startswith(",", index):
                index += 1
            elif self.text.startswith("}", index):
                return Body(tuple(entries.values()), where), index + 1
            else:
                raise self.fail(index, "expected , or }")


def read_json(text: str, file: str) -> Value:
    """Read JSON text into plain values with the line of each key; BakeryError if invalid."""
    return _Reader(text, file).document()


def read_json_template(text: str, file: str) -> Template:
    """Read a legacy JSON Packer template (`builders`, `provisioners`, `variables`)."""
    top = read_json(text, file)
    if not isinstance(top, Body):
        raise BakeryError(f"{file}:1:1: a JSON template is an object with builders")
    sensitive: set[str] = set()
    listed = top.get("sensitive-variables")
    if isinstance(listed, Items):
        sensitive = {item.literal or "" for item in listed.items if isinstance(item, Text)}
    variables: list[Variable] = []
    sources: list[Block] = []
    uses: list[SourceUse] = []
    provisioners: list[Block] = []
    post: list[Block] = []
    others: list[Entry] = []
    for entry in top.entries:
        value = entry.value
        if entry.key == "variables" and isinstance(value, Body):
            for var_entry in value.entries:
                default = (
                    None
                    if isinstance(var_entry.value, Scalar) and var_entry.value.value is None
                    else (var_entry.value)
                )
                variables.append(
                    Variable(
                        var_entry.key,
                        None,
                        default,
                        None,
                        var_entry.key in sensitive,
                        var_entry.where,
                        Body((), var_entry.where),
                    )
                )
        elif entry.key == "builders" and isinstance(value, Items):
            for item in value.items:
                block = _typed_block("source", item)
                if block is None:
                    others.append(Entry("builders", item, item.where))
                    continue
                builder = block.labels[0]
                name_value = block.body.get("name")
                name = (name_value.literal if isinstance(name_value, Text) else None) or builder
                body = Body(
                    tuple(e for e in block.body.entries if e.key != "name"), block.body.where
                )
                sources.append(Block("source", (builder, name), body, block.where))
                uses.append(SourceUse(builder, name, block.where))
        elif entry.key == "provisioners" and isinstance(value, Items):
            for item in value.items:
                block = _typed_block("provisioner", item)
                if block is None:
                    others.append(Entry("provisioners", item, item.where))
                else:
                    provisioners.append(block)
        elif entry.key == "post-processors" and isinstance(value, Items):
            for item in value.items:
                chain = item.items if isinstance(item, Items) else (item,)
                for link in chain:
                    if isinstance(link, Text) and link.literal:  # "manifest": the short form
                        link = Body((Entry("type", link, link.where),), link.where)
                    block = _typed_block("post-processor", link)
                    if block is None:
                        others.append(Entry("post-processors", link, link.where))
                    else:
                        post.append(block)
        elif entry.key in ("sensitive-variables", "description", "min_packer_version"):
            others.append(entry)
        else:
            others.append(entry)
    build = Build(None, tuple(uses), tuple(provisioners), tuple(post), top.where)
    return Template(file, "json", tuple(variables), (), tuple(sources), (build,), (), tuple(others))


def _typed_block(kind: str, item: Value) -> Block | None:
    """An object with a "type" as a block labelled by that type (the other keys its body)."""
    if not isinstance(item, Body):
        return None
    type_value = item.get("type")
    if not isinstance(type_value, Text) or not type_value.literal:
        return None
    body = Body(tuple(e for e in item.entries if e.key != "type"), item.where, True)
    return Block(kind, (type_value.literal,), body, item.where)
