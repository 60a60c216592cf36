"""What `bake` builds and why: pure decisions over facts gathered beforehand."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from bakery.config.graph import RecipeGraph


class Action(StrEnum):
    BUILD = "build"
    UP_TO_DATE = "up to date"
    BLOCKED = "blocked"


@dataclass(frozen=True)
class Facts:
    """What is known about a recipe before building it."""

    source_ami: str | None  # resolved now; None when it could not be resolved
    input_hash: str | None
    existing_ami: str | None  # an available image with this input hash in the build region
    previous_source_ami: str | None = None  # of the newest successful build, if any
    previous_input_hash: str | None = None
    problem: str | None = None  # why the source could not be resolved


@dataclass(frozen=True)
class Decision:
    recipe: str
    action: Action
    reason: str


def closure(graph: RecipeGraph, names: Sequence[str]) -> list[str]:
    """Return `names` and all their ancestors, in build order."""
    wanted = set(names)
    for name in names:
        wanted.update(graph.ancestors(name))
    return [name for wave in graph.waves(wanted) for name in wave]


def decide(
    name: str,
    *,
    named: bool,
    force: bool,
    parent: Decision | None,
    facts: Facts | None,
) -> Decision:
    """Decide whether `name` is built; `facts` may be None only when its parent is built."""
    if parent is not None and parent.action is Action.BUILD:
        return Decision(name, Action.BUILD, f"its parent {parent.recipe} is rebuilt")
    if parent is not None and parent.action is Action.BLOCKED:
        return Decision(name, Action.BLOCKED, f"its parent {parent.recipe} is blocked")
    if facts is None or facts.problem or facts.input_hash is None:
        problem = facts.problem if facts and facts.problem else "its source could not be resolved"
        return Decision(name, Action.BLOCKED, problem)
    if facts.existing_ami:
        if named and force:
            return Decision(name, Action.BUILD, f"--force (up to date as {facts.existing_ami})")
        return Decision(
            name, Action.UP_TO_DATE, f"{facts.existing_ami} has input hash {facts.input_hash[:12]}"
        )
    return Decision(name, Action.BUILD, _why_stale(facts))


def _why_stale(facts: Facts) -> str:
    assert facts.input_hash is not None
    if facts.previous_input_hash is None:
        return "never built"
    if facts.previous_source_ami and facts.previous_source_ami != facts.source_ami:
        return f"its source moved from {facts.previous_source_ami} to {facts.source_ami}"
    if facts.previous_input_hash != facts.input_hash:
        return (
            f"recipe, scripts, files or template changed (input hash "
            f"{facts.previous_input_hash[:12]} → {facts.input_hash[:12]})"
        )
    return f"no available image with input hash {facts.input_hash[:12]} in the build region"
