"""The recipe tree as text, Mermaid, dot and JSON: any depth, any width."""

from __future__ import annotations

import json

import pytest

from bakery.ui.diagram import FORMATS, draw


def test_tree_draws_branches_in_name_order() -> None:
    parents = {"base": None, "web": "base", "api": "base", "edge": "web", "other": None}
    assert draw("tree", parents, {}) == "\n".join(
        [
            "base",
            "├── api",
            "└── web",
            "    └── edge",
            "other",
        ]
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_chain_deeper_than_the_recursion_limit_is_drawn(fmt: str) -> None:
    depth = 3000
    parents = {f"r{i}": (f"r{i - 1}" if i else None) for i in range(depth)}
    text = draw(fmt, parents, {})
    if fmt == "tree":
        lines = text.splitlines()
        assert len(lines) == depth
        assert lines[-1] == " " * 4 * (depth - 2) + f"└── r{depth - 1}"
    elif fmt == "json":
        assert len(json.loads(text)["nodes"]) == depth
    else:
        assert f"r{depth - 1}" in text
