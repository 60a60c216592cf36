from __future__ import annotations

from bakery.config.graph import RecipeGraph, find_cycles

GRAPH = RecipeGraph({"base": None, "hard": "base", "web": "hard", "worker": "hard", "other": None})


def test_waves_put_each_recipe_after_its_parent() -> None:
    assert GRAPH.waves() == [["base", "other"], ["hard"], ["web", "worker"]]


def test_waves_of_a_subset_ignore_edges_to_recipes_outside_it() -> None:
    assert GRAPH.waves(["web", "worker"]) == [["web", "worker"]]


def test_ancestors_and_descendants() -> None:
    assert GRAPH.ancestors("web") == ["hard", "base"]
    assert GRAPH.descendants("base") == ["hard", "web", "worker"]
    assert GRAPH.roots() == ["base", "other"]


def test_find_cycles_names_the_whole_chain() -> None:
    assert find_cycles({"a": "b", "b": "c", "c": "a", "d": "a"}) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": "a"}) == [["a", "a"]]
    assert find_cycles({"a": None, "b": "a"}) == []
