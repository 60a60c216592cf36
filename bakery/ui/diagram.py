"""Draw a graph of named nodes as a text tree, Mermaid, Graphviz dot or JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

FORMATS = ("tree", "mermaid", "dot", "json")


def draw(
    fmt: str,
    parents: Mapping[str, str | None],
    labels: Mapping[str, str],
    extra: Mapping[str, Any] | None = None,
) -> str:
    """Draw nodes (`parents` maps each to its parent or None) with a label each."""
    children: dict[str | None, list[str]] = {}
    for node, parent in parents.items():
        children.setdefault(parent if parent in parents else None, []).append(node)
    for group in children.values():
        group.sort()
    if fmt == "tree":
        return _tree(children, labels)
    if fmt == "mermaid":
        return _mermaid(parents, labels)
    if fmt == "dot":
        return _dot(parents, labels)
    nodes = [
        {"name": node, "parent": parents[node], "label": labels.get(node, node)}
        for node in sorted(parents)
    ]
    return json.dumps({"nodes": nodes, **(extra or {})}, indent=2)


def _tree(children: Mapping[str | None, Sequence[str]], labels: Mapping[str, str]) -> str:
    # A stack, not recursion: a chain of recipes may be deeper than Python's recursion limit.
    lines: list[str] = []
    # (node, prefix, last, top), pushed in reverse so they pop in order
    stack: list[tuple[str, str, bool, bool]] = [
        (root, "", True, True) for root in reversed(children.get(None, []))
    ]
    seen: set[str] = set()
    while stack:
        node, prefix, last, top = stack.pop()
        branch = "" if top else ("└── " if last else "├── ")
        lines.append(f"{prefix}{branch}{labels.get(node, node)}")
        if node in seen:  # a cycle cannot reach here from a root, but never loop forever
            continue
        seen.add(node)
        below = children.get(node, [])
        extension = "" if top else ("    " if last else "│   ")
        for index in range(len(below) - 1, -1, -1):
            stack.append((below[index], prefix + extension, index == len(below) - 1, False))
    return "\n".join(lines)


def _node_id(name: str) -> str:
    return "n_" + "".join(c if c.isalnum() else "_" for c in name)


def _mermaid(parents: Mapping[str, str | None], labels: Mapping[str, str]) -> str:
    lines = ["graph TD"]
    for node in sorted(parents):
        text = labels.get(node, node).replace('"', "#quot;")
        lines.append(f'  {_node_id(node)}["{text}"]')
    for node, parent in sorted(parents.items()):
        if parent in parents and parent is not None:
            lines.append(f"  {_node_id(parent)} --> {_node_id(node)}")
    return "\n".join(lines)


def _dot(parents: Mapping[str, str | None], labels: Mapping[str, str]) -> str:
    lines = ["digraph bakery {", "  rankdir=TB;", "  node [shape=box];"]
    for node in sorted(parents):
        lines.append(f"  {json.dumps(node)} [label={json.dumps(labels.get(node, node))}];")
    for node, parent in sorted(parents.items()):
        if parent in parents and parent is not None:
            lines.append(f"  {json.dumps(parent)} -> {json.dumps(node)};")
    lines.append("}")
    return "\n".join(lines)
