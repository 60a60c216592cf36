"""Load YAML keeping where every key and value stood, so errors can say FILE:LINE:COLUMN.

Loading is bounded, since recipes arrive by pull request: a file of at most MAX_FILE_BYTES,
collections nested at most MAX_DEPTH deep (also through aliases), and aliases that add at most
MAX_ALIAS_VALUES values (a "billion laughs" document adds billions). Keys must be strings: YAML
1.1 reads `on`, `no`, `null`, `0x10` or `010` as a boolean, null or number, silently renaming them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from bakery.config import rule_codes as rc
from bakery.config.rule_codes import Rule
from bakery.errors import Problem

PathKey = tuple[str | int, ...]

MAX_FILE_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_ALIAS_VALUES = 10_000


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
        if isinstance(part, int):
            text += f"[{part}]"
        elif not part.isprintable() or not part:
            text += f"[{part!r}]"  # escaped: no raw control character reaches a terminal
        else:
            text += f".{part}" if text else part
    return text


class _LimitError(Exception):
    """A document over a loading limit, with the rule, the place and what to say."""

    def __init__(self, rule: Rule, mark: Any, message: str) -> None:
        super().__init__(message)
        self.rule, self.mark, self.message = rule, mark, message


class _Loader(yaml.SafeLoader):
    """The safe loader, composing nodes within MAX_DEPTH and MAX_ALIAS_VALUES."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._open: set[str] = set()  # anchors of the collections being composed
        self._added = 0  # values the aliases so far add to the document
        self._measured: dict[int, tuple[int, int]] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event: Any = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            self._check_alias(event)
            return super().compose_node(parent, index)
        if not isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _LimitError(
                rc.TOO_DEEP,
                event.start_mark,
                f"lists and mappings are nested more than {MAX_DEPTH} deep; flatten the file",
            )
        anchor = event.anchor
        if anchor is not None:
            self._open.add(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
            if anchor is not None:
                self._open.discard(anchor)

    def _check_alias(self, event: yaml.AliasEvent) -> None:
        anchor = str(event.anchor)
        if anchor in self._open:
            raise _LimitError(
                rc.ALIAS_EXPANSION,
                event.start_mark,
                f"alias *{_printable(anchor)} refers to a collection that holds it (a recursive "
                "alias); write the values out",
            )
        node = self.anchors.get(anchor)
        if node is None:
            return  # the composer reports the undefined alias
        size, depth = self._measure(node)
        if self._depth + depth > MAX_DEPTH:
            raise _LimitError(
                rc.TOO_DEEP,
                event.start_mark,
                f"alias *{_printable(anchor)} nests lists and mappings more than {MAX_DEPTH} "
                "deep; flatten the file",
            )
        self._added += size
        if self._added > MAX_ALIAS_VALUES:
            raise _LimitError(
                rc.ALIAS_EXPANSION,
                event.start_mark,
                f"aliases expand the document by more than {MAX_ALIAS_VALUES:,} values (at "
                f"*{_printable(anchor)}); write the values out or use fewer aliases",
            )

    def _measure(self, node: yaml.Node) -> tuple[int, int]:
        """Return how many values `node` expands to and how deep its collections nest."""
        known = self._measured.get(id(node))
        if known is not None:
            return known
        if not isinstance(node, yaml.CollectionNode):
            return 1, 0
        children: list[yaml.Node] = (
            [part for pair in node.value for part in pair]
            if isinstance(node, yaml.MappingNode)
            else list(node.value)
        )
        size, deepest = 1, 0
        for child in children:
            child_size, child_depth = self._measure(child)
            size, deepest = size + child_size, max(deepest, child_depth)
        depth = deepest + 1
        self._measured[id(node)] = (size, depth)
        return size, depth


def _printable(text: str) -> str:
    return text if text.isprintable() else repr(text)


class _Constructor(yaml.constructor.SafeConstructor):
    pass


def load_marked(text: str, file: str) -> tuple[MarkedDocument | None, list[Problem]]:
    """Parse one YAML document; return it with its marks, or the syntax and key problems."""
    too_large = _size_problem(text, file)
    if too_large is not None:
        return None, [too_large]
    loader: _Loader | None = None
    try:
        loader = _Loader(text)  # its reader refuses control characters at once
        node = loader.get_single_node()
    except _LimitError as error:
        line, column = error.mark.line + 1, error.mark.column + 1
        return None, [error.rule.at(file, line, column, "", error.message)]
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
    finally:
        if loader is not None:
            loader.dispose()
    doc = MarkedDocument(file, None)
    if node is None:
        return doc, []
    problems: list[Problem] = []
    doc.data = _build(node, (), doc, problems, _Constructor())
    return doc, problems


def _size_problem(text: str, file: str) -> Problem | None:
    """Say so if `text` is over MAX_FILE_BYTES, at the line where it crosses the limit."""
    if len(text) <= MAX_FILE_BYTES // 4:
        return None
    data = text.encode("utf-8", errors="replace")
    if len(data) <= MAX_FILE_BYTES:
        return None
    line, column = _line_column(text, len(data[:MAX_FILE_BYTES].decode("utf-8", errors="ignore")))
    return rc.FILE_TOO_LARGE.at(
        file,
        line,
        column,
        "",
        f"the file is {len(data) / 1024 / 1024:.1f} MiB; at most {MAX_FILE_BYTES // 1024 // 1024} "
        "MiB is read (see docs/recipes.md, Limits); move data into files the recipe uploads",
    )


def _line_column(text: str, index: int) -> tuple[int, int]:
    """Return the 1-based line and column of character `index` of `text`."""
    start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - start + 1


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def _key_problem(
    doc: MarkedDocument, key_node: yaml.Node, rule: rc.Rule, where: str, message: str
) -> Problem:
    """Return a problem at a mapping's key (not at its value, as `doc.problem` would)."""
    mark = _mark(key_node)
    return rule.at(doc.file, mark.line, mark.column, where, message)


def _build(
    node: yaml.Node, path: PathKey, doc: MarkedDocument, problems: list[Problem], ctor: _Constructor
) -> Any:
    doc.values[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                problems.append(
                    _key_problem(
                        doc,
                        key_node,
                        rc.MERGE_KEY,
                        format_path(path),
                        "YAML merge keys (<<) are not supported; write the keys out",
                    )
                )
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append(
                    _key_problem(
                        doc,
                        key_node,
                        rc.KEY_NOT_STRING,
                        format_path(path),
                        "a key must be a string, not a list or mapping",
                    )
                )
                continue
            try:
                key = ctor.construct_object(key_node, deep=True)
            except _UNREADABLE as error:
                problems.append(
                    _key_problem(
                        doc, key_node, rc.UNREADABLE_VALUE, format_path(path), _unreadable(error)
                    )
                )
                continue
            if not isinstance(key, str):
                problems.append(
                    _key_problem(
                        doc,
                        key_node,
                        rc.KEY_NOT_STRING,
                        format_path(path),
                        f"the key {key_node.value!r} is read by YAML as {_describe(key)}, not a "
                        f'string; quote the key ("{_printable(key_node.value)}")',
                    )
                )
                continue
            if not _encodable(key):
                problems.append(
                    _key_problem(
                        doc,
                        key_node,
                        rc.INVALID_UNICODE,
                        format_path(path),
                        "invalid Unicode in a key (an unpaired surrogate escape)",
                    )
                )
                continue
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
    if isinstance(value, str) and not _encodable(value):
        problems.append(
            doc.problem(rc.INVALID_UNICODE, path, "invalid Unicode (an unpaired surrogate escape)")
        )
        return None
    return value


def _encodable(text: str) -> bool:
    """Tell whether TEXT can be written as UTF-8: PyYAML reads `\\ud800` escapes as lone
    surrogates, which no file, tag or terminal can hold."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# What constructing a scalar can raise: an unknown tag, or a tagged value PyYAML cannot convert
# (`!!int x`, the date 2001-13-45).
_UNREADABLE = (yaml.constructor.ConstructorError, ValueError, OverflowError)


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    return f"a {type(value).__name__}"


def _unreadable(error: Exception) -> str:
    if isinstance(error, yaml.constructor.ConstructorError):
        reason = error.problem or "unreadable value"
    else:
        reason = str(error)
    return f"cannot read value: {reason}"
