"""Load YAML keeping where every key and value stood, so errors can say FILE:LINE:COLUMN."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

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

    def problem(self, path: PathKey, message: str) -> Problem:
        """Make a Problem located at `path`."""
        mark = self.where(path)
        return Problem(self.file, mark.line, mark.column, format_path(path), message)


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
        return None, [Problem(file, line, column, "", f"YAML syntax error: {reason}")]
    except yaml.YAMLError as error:
        return None, [Problem(file, 1, 1, "", f"YAML error: {error}")]
    doc = MarkedDocument(file, None)
    if node is None:
        return doc, []
    problems: list[Problem] = []
    doc.data = _build(node, (), doc, problems, _Constructor())
    return doc, problems


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
                problems.append(doc.problem(path, "YAML merge keys (<<) are not supported"))
                continue
            key = ctor.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)
            child = (*path, key)
            if key in result:
                mark = _mark(key_node)
                first = doc.keys[child]
                problems.append(
                    Problem(
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
    except yaml.constructor.ConstructorError as error:
        problems.append(doc.problem(path, f"cannot read value: {error.problem}"))
        return None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            problems.append(doc.problem(path, "invalid Unicode (an unpaired surrogate escape)"))
            return None
    return value
