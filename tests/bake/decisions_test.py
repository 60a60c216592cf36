from __future__ import annotations

from bakery.bake.decisions import Action, Decision, Facts, closure, decide
from bakery.config.graph import RecipeGraph

HASH = "a" * 64


def facts(**changes: object) -> Facts:
    values: dict[str, object] = {"source_ami": "ami-1", "input_hash": HASH, "existing_ami": None}
    values.update(changes)
    return Facts(**values)  # type: ignore[arg-type]


def test_closure_adds_ancestors_in_build_order() -> None:
    graph = RecipeGraph({"base": None, "hard": "base", "web": "hard", "other": None})
    assert closure(graph, ["web"]) == ["base", "hard", "web"]


def test_existing_image_with_the_hash_is_up_to_date() -> None:
    decision = decide(
        "web", named=True, force=False, parent=None, facts=facts(existing_ami="ami-9")
    )
    assert decision == Decision("web", Action.UP_TO_DATE, f"ami-9 has input hash {HASH[:12]}")


def test_force_rebuilds_named_recipes_only() -> None:
    existing = facts(existing_ami="ami-9")
    assert decide("web", named=True, force=True, parent=None, facts=existing).action is Action.BUILD
    assert (
        decide("base", named=False, force=True, parent=None, facts=existing).action
        is Action.UP_TO_DATE
    )


def test_child_of_a_rebuilt_parent_is_rebuilt() -> None:
    parent = Decision("hard", Action.BUILD, "never built")
    assert decide("web", named=True, force=False, parent=parent, facts=None) == Decision(
        "web", Action.BUILD, "its parent hard is rebuilt"
    )


def test_unresolvable_source_blocks_the_recipe_and_its_children() -> None:
    blocked = decide(
        "base",
        named=True,
        force=False,
        parent=None,
        facts=facts(problem="parameter gone", input_hash=None),
    )
    assert blocked == Decision("base", Action.BLOCKED, "parameter gone")
    child = decide("web", named=True, force=False, parent=blocked, facts=None)
    assert child.action is Action.BLOCKED


def test_reasons_say_what_changed() -> None:
    assert decide("w", named=True, force=False, parent=None, facts=facts()).reason == "never built"
    moved = facts(previous_source_ami="ami-0", previous_input_hash="b" * 64)
    assert decide("w", named=True, force=False, parent=None, facts=moved).reason == (
        "its source moved from ami-0 to ami-1"
    )
    edited = facts(previous_source_ami="ami-1", previous_input_hash="b" * 64)
    assert (
        "recipe, scripts, files or template changed"
        in decide("w", named=True, force=False, parent=None, facts=edited).reason
    )
