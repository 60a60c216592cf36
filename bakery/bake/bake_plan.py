"""What `bake` does with each recipe and why: render it, gather its facts, decide (`decisions`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bakery.aws.facts import SourceInfo
from bakery.bake.context import BakeContext
from bakery.bake.decisions import Action, Decision, Facts, closure, decide
from bakery.config.recipe import Recipe
from bakery.errors import BakeryError
from bakery.render.build_folder import Rendered, render
from bakery.render.input_hash import input_hash


@dataclass(frozen=True)
class PlannedRecipe:
    decision: Decision
    facts: Facts | None
    rendered: Rendered
    source: SourceInfo | None
    parent_build_id: str | None
    known_build_id: str | None = None  # its newest succeeded build when the plan was made


def plan_bake(ctx: BakeContext, names: Sequence[str], force: bool) -> list[PlannedRecipe]:
    """Decide, in build order, what happens to `names` and every ancestor they need."""
    catalog = ctx.catalog
    named = set(names)
    planned: dict[str, PlannedRecipe] = {}
    for name in closure(catalog.graph, names):
        recipe = catalog.recipes[name]
        rendered = _render(ctx, recipe)
        parent = planned.get(recipe.parent) if recipe.parent else None
        facts: Facts | None = None
        source: SourceInfo | None = None
        parent_build: str | None = None
        if parent is None or parent.decision.action is Action.UP_TO_DATE:
            source, parent_build, facts = _facts(ctx, recipe, rendered, parent)
        decision = decide(
            name,
            named=name in named,
            force=force,
            parent=parent.decision if parent else None,
            facts=facts,
        )
        known = ctx.store.latest_success(name, recipe.region)
        planned[name] = PlannedRecipe(
            decision, facts, rendered, source, parent_build, known.build_id if known else None
        )
    return list(planned.values())


def _render(ctx: BakeContext, recipe: Recipe) -> Rendered:
    root = ctx.root
    return render(
        recipe,
        ctx.catalog.project.tags,
        ctx.dialect,
        lambda path: (root / path).read_bytes(),
        local=ctx.local,
    )


def _facts(
    ctx: BakeContext, recipe: Recipe, rendered: Rendered, parent: PlannedRecipe | None
) -> tuple[SourceInfo | None, str | None, Facts]:
    region = recipe.region
    try:
        if parent is None:
            source = ctx.images.resolve(recipe.source, region, ctx.catalog.project.trusted_owners)
            parent_build = None
        else:
            assert parent.facts is not None and parent.facts.existing_ami is not None
            ami = parent.facts.existing_ami
            record = ctx.store.find_by_ami(ami)
            if record is not None and record.revoked:
                raise BakeryError(
                    f"the newest image of {parent.decision.recipe}, {ami}, is "
                    f"revoked ({record.revoked_reason}); bake a new one first"
                )
            source = SourceInfo("recipe", parent.decision.recipe, ami)
            parent_build = record.build_id if record else None
    except BakeryError as error:
        return None, None, Facts(None, None, None, problem=str(error))
    digest_hash = input_hash(rendered.digest, source.resolved_ami)
    previous = ctx.store.latest_success(recipe.name, region)
    facts = Facts(
        source_ami=source.resolved_ami,
        input_hash=digest_hash,
        existing_ami=ctx.images.with_input_hash(recipe.name, region, digest_hash),
        previous_source_ami=previous.source.resolved_ami if previous else None,
        previous_input_hash=previous.input_hash if previous else None,
    )
    return source, parent_build, facts
