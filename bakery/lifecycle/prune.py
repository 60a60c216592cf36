"""`prune` as a use case: gather the facts of every region, plan (pure), and with `apply` delete."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bakery.aws.facts import ImageFacts, UsageFacts
from bakery.aws.session import Gateway
from bakery.config.project import Project, Retention
from bakery.config.recipe import Recipe
from bakery.errors import BakeryError
from bakery.lifecycle.prune_plan import PrunePlan, plan_prune
from bakery.lineage.records import iso_utc
from bakery.lineage.store import LineageStore

DEFAULT_RETENTION = Retention(keep=3, max_age_days=None)


@dataclass(frozen=True)
class PruneRun:
    """A prune plan with what applying it met and the AWS calls gathering the facts took."""

    plan: PrunePlan
    regions: tuple[str, ...]
    applied: bool
    problems: tuple[str, ...] = ()
    calls: Mapping[str, Mapping[str, int]] = field(default_factory=dict)


def retention_lookup(
    project: Project, recipes: Mapping[str, Recipe], keep: int | None, max_age: int | None
) -> Callable[[str], Retention]:
    """Return the retention of a recipe: flags, then the recipe's, then bakery.yaml's, then 3."""
    base = project.retention
    cache: dict[str, Retention] = {}

    def lookup(name: str) -> Retention:
        if name not in cache:
            recipe = recipes.get(name)  # images of a recipe no longer in the project: defaults
            chosen_keep = _first(
                keep, recipe.keep if recipe else None, base.keep, DEFAULT_RETENTION.keep
            )
            chosen_age = _first(max_age, recipe.max_age_days if recipe else None, base.max_age_days)
            try:
                cache[name] = Retention(chosen_keep or 0, chosen_age)
            except ValueError as error:
                raise BakeryError(f"retention of {name}: {error}") from error
        return cache[name]

    return lookup


def prune(
    gateway: Gateway,
    store: LineageStore,
    regions: Sequence[str],
    retention_for: Callable[[str], Retention],
    now: datetime,
    *,
    recipes: set[str] | None = None,
    include_shared: bool = False,
    apply: bool = False,
) -> PruneRun:
    """Plan the prune of `regions` (only `recipes` when given); with `apply`, carry it out."""
    from bakery.aws.usage import apply_prune, gather

    candidates = deletion_candidates(
        retention_for, now, include_shared=include_shared, recipes=recipes
    )
    facts = gather(gateway, regions, candidates, recipes=recipes)
    plan = plan_prune(
        facts.images,
        facts.usage,
        retention_for,
        now,
        include_shared=include_shared,
        recipes=recipes,
    )
    if not apply:
        return PruneRun(plan, tuple(regions), False, calls=facts.calls)
    problems = apply_prune(gateway, plan.to_delete)
    # the lineage keeps every build; it now says which of its images are gone
    gone = [d.ami_id for d in plan.to_delete if not any(d.ami_id in p for p in problems)]
    store.mark_removed(gone, iso_utc())
    return PruneRun(plan, tuple(regions), True, tuple(problems), facts.calls)


def deletion_candidates(
    retention_for: Callable[[str], Retention],
    now: datetime,
    *,
    include_shared: bool = False,
    recipes: set[str] | None = None,
) -> Callable[[Sequence[ImageFacts], UsageFacts], list[str]]:
    """Return what `gather` asks while it reads a region: which images would still be deleted."""

    def candidates(images: Sequence[ImageFacts], usage: UsageFacts) -> list[str]:
        plan = plan_prune(
            images,
            {usage.region: usage},
            retention_for,
            now,
            include_shared=include_shared,
            recipes=recipes,
        )
        return [decision.ami_id for decision in plan.to_delete]

    return candidates


def _first(*values: int | None) -> int | None:
    return next((value for value in values if value is not None), None)
