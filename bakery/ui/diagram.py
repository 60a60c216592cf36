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
    lines: list[str] = []

    def walk(node: str, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└── " if last else "├── ")
        lines.append(f"{prefix}{branch}{labels.get(node, node)}")
        below = children.get(node, [])
        for index, child in enumerate(below):
            extension = "" if top else ("    " if last else "│   ")
            walk(child, prefix + extension, index == len(below) - 1, False)

    for root in children.get(None, []):
        walk(root, "", True, True)
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
