"""The plan of stale recipes: gather what staleness needs (store, sources, digests), assess each
recipe (`staleness`), and say what would rebuild, wave by wave, as text or as plain data.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bakery.aws.facts import SourceInfo
from bakery.aws.images import Image, tags_of
from bakery.aws.source_facts import CallCounter, Resolved, images_of_recipes, resolve_all
from bakery.config.catalog import Catalog
from bakery.config.recipe import parse_duration
from bakery.config.tags import REVOKED_TAG
from bakery.lineage.records import BuildRecord
from bakery.lineage.store import LineageStore
from bakery.lineage.tag_import import record_from_tags
from bakery.render.build_folder import TemplateDialect, render
from bakery.render.input_hash import input_hash
from bakery.schedule.staleness import RebuildPlan, Staleness, assess, in_scope, plan_rebuild

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

    from bakery.aws.session import Gateway


def plan_stale(
    catalog: Catalog,
    store: LineageStore,
    gateway: Gateway,
    names: Sequence[str] = (),
    now: datetime | None = None,
) -> tuple[RebuildPlan, CallCounter]:
    """Assess `names` (all when empty) and their descendants; plan what would rebuild.

    Up to date is decided as `bake` decides it: an available, not revoked image in AWS whose
    tags carry the input hash the recipe has now (so a lost store causes no rebuilds); the
    store adds what tags cannot say (the parent a build was made on, revocations, history).
    """
    project = catalog.project
    # A family stands for its instances; an unknown name is an error that suggests the closest.
    names = [found for name in names for found in catalog.expand(name)]
    scope = in_scope(catalog.graph, names)
    needed = _with_ancestors(catalog, scope)  # a child's input hash needs its parent's image
    # The content digest does not depend on the dialect (only the packer block does), so any
    # dialect gives the same digest and planning never needs the Packer binary.
    dialect: TemplateDialect = "1.7+" if project.dialect == "1.7+" else "1.6"
    digests = {
        name: render(
            catalog.recipes[name],
            project.tags,
            dialect,
            lambda path: (project.root / path).read_bytes(),
        ).digest
        for name in needed
    }
    sources, calls = resolve_all(
        gateway, [catalog.recipes[name] for name in needed], project.trusted_owners
    )
    by_region: dict[str, list[str]] = {}
    for name in needed:
        by_region.setdefault(catalog.recipes[name].region, []).append(name)
    tagged = images_of_recipes(gateway, by_region, calls)
    current = current_builds(catalog, store, needed, digests, sources, tagged)
    when = now or datetime.now(UTC)
    assessed = assess_all(catalog, store, scope, digests, sources, when, current)
    return plan_rebuild(catalog.graph, assessed, names), calls


def _with_ancestors(catalog: Catalog, scope: Sequence[str]) -> list[str]:
    wanted = set(scope)
    for name in scope:
        wanted.update(catalog.graph.ancestors(name))
    return [name for wave in catalog.graph.waves(wanted) for name in wave]


@dataclass(frozen=True)
class Current:
    """A recipe's image that `bake` would call up to date, and the build that made it."""

    record: BuildRecord
    input_hash: str  # the input hash the recipe has now (that of the image)
    recorded: bool  # whether the store knows the build (else it was read from the tags)


def current_builds(
    catalog: Catalog,
    store: LineageStore,
    needed: Sequence[str],
    digests: Mapping[str, str],
    sources: Mapping[str, Resolved],
    tagged: Mapping[tuple[str, str], Sequence[Image]],
) -> dict[str, Current | str]:
    """For each recipe of `needed` (build order, ancestors first): its up-to-date build, or
    the input hash it would need (a string) when no image has it; absent when unknown."""
    current: dict[str, Current | str] = {}
    for name in needed:
        recipe = catalog.recipes[name]
        source_ami: str | None = None
        if recipe.source.external:
            found = sources.get(name)
            source_ami = found.resolved_ami if isinstance(found, SourceInfo) else None
        elif recipe.parent is not None:
            parent = current.get(recipe.parent)
            if isinstance(parent, Current):
                image = parent.record.image_in(catalog.recipes[recipe.parent].region)
                source_ami = image.ami_id if image else None
        if source_ami is None:
            continue  # the source is unknown, or the parent has no up-to-date image
        wanted = input_hash(digests[name], source_ami)
        matches = (
            (image, store.find_by_ami(str(image["ImageId"])))
            for image in tagged.get((recipe.region, name), ())
            if tags_of(image).get("bakery:input-hash") == wanted
            and REVOKED_TAG not in tags_of(image)
        )
        # revoked in the store counts too (its tag may have failed)
        match, known = next(
            ((image, known) for image, known in matches if not (known and known.revoked)),
            (None, None),
        )
        if match is None:
            current[name] = wanted
            continue
        record = known or record_from_tags(match, recipe.region)
        if record is None:
            current[name] = wanted
            continue
        if known is None:
            # Its input hash holds the source image it was built from: the one found now (and,
            # for a child, the parent's current build).
            parent_now = current.get(recipe.parent) if recipe.parent else None
            found_source = sources.get(name)
            record = replace(
                record,
                source=found_source
                if isinstance(found_source, SourceInfo)
                else replace(record.source, resolved_ami=source_ami),
                parent_build_id=parent_now.record.build_id
                if isinstance(parent_now, Current)
                else None,
            )
        current[name] = Current(record, wanted, known is not None)
    return current


def assess_all(
    catalog: Catalog,
    store: LineageStore,
    scope: Sequence[str],
    digests: Mapping[str, str],
    sources: Mapping[str, Resolved],
    now: datetime,
    current: Mapping[str, Current | str] | None = None,
) -> dict[str, Staleness]:
    """Read the store for each recipe in `scope` and assess it.

    With `current` (from `current_builds`) a recipe whose up-to-date image AWS holds is
    assessed on that image's build, one without on its newest recorded build plus that fact.
    """
    latest: dict[str, BuildRecord | None] = {}

    def newest(name: str) -> BuildRecord | None:
        if name not in latest:
            now_built = (current or {}).get(name)
            if isinstance(now_built, Current):
                latest[name] = now_built.record
            else:
                latest[name] = store.latest_success(name, catalog.recipes[name].region)
        return latest[name]

    project_max_age = catalog.project.max_age
    assessed: dict[str, Staleness] = {}
    for name in scope:
        recipe = catalog.recipes[name]
        record = newest(name)
        built_on = record.parent_build_id if record else None
        parent = recipe.parent
        parent_latest = newest(parent) if parent and parent in catalog.recipes else None
        max_age = recipe.max_age or project_max_age
        revoked = None
        if record is None:
            revoked = store.latest_success(name, recipe.region, include_revoked=True)
        entry = assess(
            recipe,
            record,
            store.get(built_on) if built_on else None,
            sources.get(name),
            digests[name],
            now,
            parse_duration(max_age) if max_age else None,
            parent_latest,
            revoked=revoked,
        )
        assessed[name] = _with_aws(entry, (current or {}).get(name), record, current is None)
    return assessed


def _with_aws(
    entry: Staleness, now_built: Current | str | None, record: BuildRecord | None, skip: bool
) -> Staleness:
    """Add what the images in AWS say to an assessment made on the store."""
    if skip:
        return entry
    if isinstance(now_built, Current):
        if now_built.recorded:
            return entry
        image = now_built.record.image_in(now_built.record.region)
        note = (
            f"image {image.ami_id if image else '?'} (build {now_built.record.build_id}) found "
            "by its tags; the lineage store has no record of it: run `bakery state import`"
        )
        return replace(entry, note="; ".join(filter(None, (entry.note, note))))
    if isinstance(now_built, str) and not entry.stale and record is not None:
        region = record.region
        reason = (
            f"no available image with input hash {now_built[:12]}… in {region} (deregistered, "
            "revoked or untagged outside bakery?)"
        )
        return replace(entry, stale=True, reasons=(*entry.reasons, reason))
    return entry


def plan_as_json(result: RebuildPlan, calls: CallCounter) -> dict[str, object]:
    """Return the plan as plain data: entries, order, waves and the AWS calls per region."""
    return {
        "stale": result.stale,
        "entries": [
            {
                "recipe": entry.recipe,
                "status": entry.status,
                "reasons": list(entry.reasons),
                "problem": entry.problem,
                "note": entry.note,
            }
            for entry in result.entries
        ],
        "order": list(result.order),
        "waves": [list(wave) for wave in result.waves],
        "calls": calls.as_dict(),
        "total_calls": calls.total,
    }


def print_rebuild_plan(
    result: RebuildPlan, calls: CallCounter | None, stream: SupportsWrite[str] | None = None
) -> None:
    """Print one row per recipe with its reasons, then the rebuilds wave by wave."""
    width = max([len("RECIPE"), *(len(entry.recipe) for entry in result.entries)])
    lines = [f"{'RECIPE':<{width}}  {'STATUS':<10}  REASONS"]
    for entry in result.entries:
        reasons = list(entry.reasons)
        if entry.problem:
            reasons.append(f"could not check its source: {entry.problem}")
        if entry.note:
            reasons.append(entry.note)
        status = entry.status.upper()
        lines.append(f"{entry.recipe:<{width}}  {status:<10}  {reasons[0] if reasons else ''}")
        lines += [f"{'':<{width}}  {'':<10}  {reason}" for reason in reasons[1:]]
    lines.append("")
    if result.order:
        lines.append(f"would rebuild {len(result.order)}, in order:")
        lines += [f"  wave {n}: {', '.join(wave)}" for n, wave in enumerate(result.waves, start=1)]
    else:
        lines.append("nothing to rebuild: every image is up to date")
    if calls is not None:
        summary = "; ".join(
            f"{region}: " + ", ".join(f"{count} {operation}" for operation, count in ops.items())
            for region, ops in calls.as_dict().items()
        )
        lines.append(f"checked with {calls.total} AWS call(s){f' ({summary})' if summary else ''}")
    (stream or sys.stdout).write("".join(line.rstrip() + "\n" for line in lines))
