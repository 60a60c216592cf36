"""Carry out a bake plan: run the tree of builds, each under its recipe's lease; forward Ctrl-C."""

from __future__ import annotations

from collections.abc import Sequence

from bakery.aws.facts import SourceInfo
from bakery.bake.bake_plan import PlannedRecipe
from bakery.bake.build_one import Outcome, build_recipe
from bakery.bake.context import BakeContext
from bakery.bake.decisions import Action
from bakery.bake.scheduler import run_tree
from bakery.config.recipe import Recipe
from bakery.errors import BakeryError
from bakery.lineage.leases import holding
from bakery.render.input_hash import input_hash
from bakery.ui.interrupts import forward_interrupts


def run_builds(ctx: BakeContext, planned: Sequence[PlannedRecipe], jobs: int) -> list[Outcome]:
    """Execute a plan; Ctrl-C or SIGTERM asks running builds to clean up, not to die at once."""
    restore = forward_interrupts(
        ctx.cancel,
        ctx.progress.note,
        "asking running builds to clean up (their instances, key pairs and security groups); "
        "waiting for them (again to stop them at once)",
        ctx.abort,
        "stopping running builds now; their instances may be left: run `bakery reap`",
    )
    try:
        return execute(ctx, planned, jobs)
    finally:
        restore()
        ctx.progress.close()


def execute(ctx: BakeContext, planned: Sequence[PlannedRecipe], jobs: int) -> list[Outcome]:
    """Build what the plan says, children after their parents, up to `jobs` at once."""
    by_name = {item.decision.recipe: item for item in planned}
    recipes = ctx.catalog.recipes
    outcomes: dict[str, Outcome] = {}

    def work(name: str) -> Outcome:
        item = by_name[name]
        recipe = recipes[name]
        if item.decision.action is Action.UP_TO_DATE:
            assert item.facts is not None and item.facts.existing_ami is not None
            outcome = _up_to_date(ctx, recipe, item.facts.existing_ami, item.decision.reason)
        elif item.decision.action is Action.BLOCKED:
            outcome = Outcome(name, recipe.version, "blocked", detail=item.decision.reason)
        else:
            try:
                outcome = _build_leased(ctx, recipe, item, outcomes.get(recipe.parent or ""))
            except (BakeryError, OSError) as error:  # one recipe's trouble ends no other
                ctx.progress.finished(name, f"failed: {error}")
                outcome = Outcome(name, recipe.version, "failed", detail=str(error))
        outcomes[name] = outcome
        return outcome

    def skipped(name: str, reason: str) -> Outcome:
        result = "cancelled" if ctx.cancel.is_set() else "skipped"
        outcome = Outcome(name, recipes[name].version, result, detail=reason)
        outcomes[name] = outcome
        return outcome

    order = [item.decision.recipe for item in planned]
    parents = {name: recipes[name].parent for name in order}
    # The longest chain below a recipe first: with fewer jobs than ready builds, the critical
    # path is not kept waiting.
    height: dict[str, int] = {}
    for name in reversed(order):
        below = [height[child] for child in order if parents[child] == name]
        height[name] = 1 + max(below, default=0)
    outcomes_in_order = run_tree(
        order, parents, work, skipped, jobs=jobs, cancel=ctx.cancel, priority=height
    )
    return list(outcomes_in_order.values())


def _up_to_date(ctx: BakeContext, recipe: Recipe, ami_id: str, detail: str) -> Outcome:
    """Report an existing image (and the build's copies elsewhere) as this run's result."""
    record = ctx.store.find_by_ami(ami_id)
    images = {image.region: image.ami_id for image in record.images} if record else {}
    images.setdefault(recipe.region, ami_id)
    build_id = record.build_id if record else None
    return Outcome(
        recipe.name, recipe.version, "up to date", images, build_id=build_id, detail=detail
    )


def _build_leased(
    ctx: BakeContext, recipe: Recipe, item: PlannedRecipe, parent: Outcome | None
) -> Outcome:
    """Build under the recipe's lease; a build another runner made meanwhile is used instead."""
    if parent is not None and parent.ok and recipe.region in parent.images:
        # built in this run, or by another runner while this one waited for its lease
        source = SourceInfo("recipe", parent.recipe, parent.images[recipe.region])
        parent_build = parent.build_id
    else:
        assert item.source is not None
        source, parent_build = item.source, item.parent_build_id
    ttl = ctx.catalog.project.bake.lease_ttl_seconds
    with holding(
        ctx.store, recipe.name, ctx.holder, ttl=ttl, cancel=ctx.cancel, note=ctx.progress.note
    ) as ours:
        if not ours:
            return Outcome(
                recipe.name,
                recipe.version,
                "cancelled",
                detail="cancelled while another runner was building it",
            )
        forced = item.facts is not None and item.facts.existing_ami is not None
        wanted = input_hash(item.rendered.digest, source.resolved_ami)
        existing = (
            None if forced else ctx.images.with_input_hash(recipe.name, recipe.region, wanted)
        )
        # Forced builds (--force, rebuild --stale) also use what another runner built after
        # this run planned, from the same inputs, so two runs never build a recipe twice.
        # "After" is "not known when planned": build ids hold their runner's clock, which may
        # have been ahead.
        latest = ctx.store.latest_success(recipe.name, recipe.region)
        fresh = latest.image_in(recipe.region) if latest is not None else None
        if (
            latest is not None
            and fresh is not None
            and latest.build_id != item.known_build_id
            and latest.input_hash == wanted
        ):
            existing = fresh.ami_id
        if existing is not None:
            return _up_to_date(
                ctx, recipe, existing, f"built meanwhile by another runner as {existing}"
            )
        return build_recipe(ctx, recipe, item, source, parent_build)
