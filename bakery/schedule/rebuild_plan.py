"""The plan of stale recipes: gather what staleness needs (store, sources, digests), assess each
recipe (`staleness`), and say what would rebuild, wave by wave, as text or as plain data.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bakery.aws.source_facts import CallCounter, Resolved, resolve_all
from bakery.config.catalog import Catalog
from bakery.config.recipe import parse_duration
from bakery.lineage.records import BuildRecord
from bakery.lineage.store import LineageStore
from bakery.render.build_folder import TemplateDialect, render
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
    """Assess `names` (all when empty) and their descendants; plan what would rebuild."""
    project = catalog.project
    for name in names:
        catalog.get(name)  # an unknown name is an error that suggests the closest one
    scope = in_scope(catalog.graph, names)
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
        for name in scope
    }
    sources, calls = resolve_all(
        gateway, [catalog.recipes[name] for name in scope], project.trusted_owners
    )
    assessed = assess_all(catalog, store, scope, digests, sources, now or datetime.now(UTC))
    return plan_rebuild(catalog.graph, assessed, names), calls


def assess_all(
    catalog: Catalog,
    store: LineageStore,
    scope: Sequence[str],
    digests: Mapping[str, str],
    sources: Mapping[str, Resolved],
    now: datetime,
) -> dict[str, Staleness]:
    """Read the store for each recipe in `scope` and assess it."""
    latest: dict[str, BuildRecord | None] = {}

    def newest(name: str) -> BuildRecord | None:
        if name not in latest:
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
        assessed[name] = assess(
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
    return assessed


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
