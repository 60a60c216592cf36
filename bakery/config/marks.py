"""Load YAML keeping where every key and value stood, so errors can say FILE:LINE:COLUMN."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from bakery.config import rule_codes as rc
from bakery.config.rule_codes import Rule
from bakery.errors import Problem

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class Mark:
    line: int
    column: int


@dataclass
class MarkedDocument:
    """A parsed YAML document and the 1-based position of each value and mapping key in it."""

    file: str
    data: Any
    values: dict[PathKey, Mark] = field(default_factory=dict)
    keys: dict[PathKey, Mark] = field(default_factory=dict)

    def where(self, path: PathKey) -> Mark:
        """Return where `path` is written (its key for a mapping entry), else its nearest parent."""
        for size in range(len(path), -1, -1):
            mark = self.keys.get(path[:size]) or self.values.get(path[:size])
            if mark is not None:
                return mark
        return Mark(1, 1)

    def problem(self, rule: Rule, path: PathKey, message: str) -> Problem:
        """Make a finding of `rule` located at `path`."""
        mark = self.where(path)
        return rule.at(self.file, mark.line, mark.column, format_path(path), message)


def format_path(path: PathKey) -> str:
    """Write a path as `provision[0].script`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class _Constructor(yaml.constructor.SafeConstructor):
    pass


def load_marked(text: str, file: str) -> tuple[MarkedDocument | None, list[Problem]]:
    """Parse one YAML document; return it with its marks, or the syntax and key problems."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        reason = error.problem or error.context or "invalid YAML"
        return None, [rc.YAML_SYNTAX.at(file, line, column, "", f"YAML syntax error: {reason}")]
    except yaml.reader.ReaderError as error:
        # A character YAML refuses (a control character): PyYAML gives only its index.
        line, column = _line_column(text, error.position)
        return None, [
            rc.YAML_CHARACTER.at(
                file,
                line,
                column,
                "",
                f"character U+{error.character:04X} is not allowed in YAML; remove it or write "
                f"the escape \\u{error.character:04x} in a double-quoted string",
            )
        ]
    except yaml.YAMLError as error:
        message = " ".join(str(error).split())
        return None, [rc.YAML_SYNTAX.at(file, 1, 1, "", f"YAML error: {message}")]
    doc = MarkedDocument(file, None)
    if node is None:
        return doc, []
    problems: list[Problem] = []
    doc.data = _build(node, (), doc, problems, _Constructor())
    return doc, problems


def _line_column(text: str, index: int) -> tuple[int, int]:
    """Return the 1-based line and column of character `index` of `text`."""
    start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - start + 1


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def _build(
    node: yaml.Node, path: PathKey, doc: MarkedDocument, problems: list[Problem], ctor: _Constructor
) -> Any:
    doc.values[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                mark = _mark(key_node)
                problems.append(
                    rc.MERGE_KEY.at(
                        doc.file,
                        mark.line,
                        mark.column,
                        format_path(path),
                        "YAML merge keys (<<) are not supported; write the keys out",
                    )
                )
                continue
            try:
                key = ctor.construct_object(key_node, deep=True)
            except _UNREADABLE as error:
                mark = _mark(key_node)
                problems.append(
                    rc.UNREADABLE_VALUE.at(
                        doc.file, mark.line, mark.column, format_path(path), _unreadable(error)
                    )
                )
                continue
            if not isinstance(key, str):
                key = str(key)
            child = (*path, key)
            if key in result:
                mark = _mark(key_node)
                first = doc.keys[child]
                problems.append(
                    rc.DUPLICATE_KEY.at(
                        doc.file,
                        mark.line,
                        mark.column,
                        format_path(child),
                        f"duplicate key (first at line {first.line}); remove one",
                    )
                )
                continue
            doc.keys[child] = _mark(key_node)
            result[key] = _build(value_node, child, doc, problems, ctor)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(item, (*path, index), doc, problems, ctor)
            for index, item in enumerate(node.value)
        ]
    try:
        value = ctor.construct_object(node, deep=True)
    except _UNREADABLE as error:
        problems.append(doc.problem(rc.UNREADABLE_VALUE, path, _unreadable(error)))
        return None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            problems.append(
                doc.problem(
                    rc.INVALID_UNICODE, path, "invalid Unicode (an unpaired surrogate escape)"
                )
            )
            return None
    return value


# What constructing a scalar can raise: an unknown tag, or a tagged value PyYAML cannot convert
# (`!!int x`, the date 2001-13-45).
_UNREADABLE = (yaml.constructor.ConstructorError, ValueError, OverflowError)


def _unreadable(error: Exception) -> str:
    if isinstance(error, yaml.constructor.ConstructorError):
        reason = error.problem or "unreadable value"
    else:
        reason = str(error)
    return f"cannot read value: {reason}"
