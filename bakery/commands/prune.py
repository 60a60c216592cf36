"""`bakery prune [NAME...]`: plan (and with --apply do) the removal of images beyond retention."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from datetime import UTC, datetime

from bakery.commands import (
    gateway_of,
    print_json,
    project_of,
    project_regions,
    store_of,
    writable_store_of,
)
from bakery.config.catalog import Catalog, load_catalog
from bakery.errors import BakeryError
from bakery.lifecycle.prune import prune, retention_lookup
from bakery.lifecycle.prune_plan import PrunePlan


def run(args: argparse.Namespace) -> int:
    for flag, value in (("--keep", args.keep), ("--max-age", args.max_age)):
        if value is not None and value < 0:
            raise BakeryError(f"{flag} must be 0 or more, not {value}")
    project = project_of(args)
    catalog = load_catalog(project)
    names = [
        found
        for name in args.names or []
        for found in (catalog.expand(name) if _stands_for_many(catalog, name) else [name])
    ]
    for name in names:
        if name not in catalog.recipes:
            print(
                f"bakery: note: no recipe {name} in this project; "
                f"pruning the images tagged bakery:recipe={name}",
                file=sys.stderr,
            )
    retention_for = retention_lookup(project, catalog.recipes, args.keep, args.max_age)
    opened = writable_store_of(project, args) if args.apply else None
    with opened or store_of(project, args, read_only=True) as store:
        result = prune(
            gateway_of(args, project),
            store,
            project_regions(catalog, store),
            retention_for,
            datetime.now(UTC),
            recipes=set(names) or None,
            include_shared=args.include_shared,
            apply=args.apply,
        )
    plan, problems = result.plan, list(result.problems)
    if args.json:
        print_json(
            {
                "applied": result.applied,
                "regions": list(result.regions),
                "decisions": [asdict(decision) for decision in plan.decisions],
                "summary": _summary(plan),
                "problems": problems,
                "calls": result.calls,
            }
        )
    else:
        _print_plan(plan, list(result.regions), result.applied, problems)
    return 1 if problems else 0


def _summary(plan: PrunePlan) -> dict[str, int]:
    return {
        "images_to_delete": len(plan.to_delete),
        "snapshots_to_delete": len(plan.snapshots_to_delete),
        "images_kept": len(plan.kept),
    }


def _print_plan(plan: PrunePlan, regions: list[str], applied: bool, problems: list[str]) -> None:
    rows = [
        (
            "DELETE" if d.delete else "KEEP",
            d.region,
            d.ami_id,
            d.recipe or "-",
            ",".join(d.snapshot_ids) or "-",
            "; ".join(d.reasons),
        )
        for d in plan.decisions
    ]
    if rows:
        header = ("ACTION", "REGION", "IMAGE", "RECIPE", "SNAPSHOTS", "WHY")
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(5)]
        for row in [header, *rows]:
            cells = [cell.ljust(width) for cell, width in zip(row[:5], widths, strict=True)]
            print("  ".join([*cells, row[5]]))
    else:
        print(f"no images of bakery in {', '.join(regions)}")
    counts = _summary(plan)
    images, snapshots = counts["images_to_delete"], counts["snapshots_to_delete"]
    what = f"{images} image(s) and {snapshots} snapshot(s)"
    if not applied:
        print(f"would delete {what}; keeping {counts['images_kept']} image(s)")
        if images:
            print("dry run: rerun with --apply to delete them")
    elif problems:
        print(f"tried to delete {what}; {len(problems)} problem(s):")
        for problem in problems:
            print(f"problem: {problem}")
    else:
        print(f"deleted {what}; kept {counts['images_kept']} image(s)")


def _stands_for_many(catalog: Catalog, name: str) -> bool:
    """A family's name, or FAMILY[param=value]: prune those instances."""
    return name not in catalog.recipes and (name in catalog.families or "[" in name)
