"""The recipe graph: parents, waves of builds that can run together, ancestors, descendants."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from graphlib import TopologicalSorter


@dataclass(frozen=True)
class RecipeGraph:
    """Edges from each recipe to its parent recipe (None for an external source)."""

    parents: Mapping[str, str | None]

    def children(self, name: str) -> list[str]:
        return sorted(child for child, parent in self.parents.items() if parent == name)

    def roots(self) -> list[str]:
        return sorted(n for n, p in self.parents.items() if p is None or p not in self.parents)

    def ancestors(self, name: str) -> list[str]:
        """Return the chain of parents of `name`, nearest first."""
        chain: list[str] = []
        parent = self.parents.get(name)
        while parent is not None and parent in self.parents and parent not in chain:
            chain.append(parent)
            parent = self.parents.get(parent)
        return chain

    def descendants(self, name: str) -> list[str]:
        """Return every recipe built on `name`, directly or not, in build order."""
        found: list[str] = []
        frontier = [name]
        while frontier:
            current = frontier.pop(0)
            for child in self.children(current):
                if child not in found:
                    found.append(child)
                    frontier.append(child)
        return found

    def waves(self, names: Iterable[str] | None = None) -> list[list[str]]:
        """Split `names` (all by default) into waves; each wave depends only on earlier ones."""
        chosen = set(self.parents if names is None else names)
        sorter: TopologicalSorter[str] = TopologicalSorter()
        for name in chosen:
            parent = self.parents.get(name)
            sorter.add(name, *([parent] if parent in chosen and parent is not None else []))
        sorter.prepare()
        result: list[list[str]] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready())
            result.append(ready)
            sorter.done(*ready)
        return result


def find_cycles(parents: Mapping[str, str | None]) -> list[list[str]]:
    """Return each cycle as its chain of names, starting and ending with the same recipe."""
    cycles: list[list[str]] = []
    seen: set[str] = set()
    for start in sorted(parents):
        if start in seen:
            continue
        path: list[str] = []
        node: str | None = start
        while node is not None and node in parents and node not in seen and node not in path:
            path.append(node)
            node = parents[node]
        if node is not None and node in path:
            loop = path[path.index(node) :]
            first = loop.index(min(loop))
            loop = loop[first:] + loop[:first]
            cycles.append([*loop, loop[0]])
        seen.update(path)
    return cycles
