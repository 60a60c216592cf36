"""`bakery prune [NAME...]`: plan (and with --apply do) the removal of images beyond retention."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime

from bakery.commands import gateway_of, print_json, project_of, project_regions, store_of
from bakery.config.catalog import load_catalog
from bakery.config.project import Project, Retention
from bakery.config.recipe import Recipe
from bakery.errors import BakeryError
from bakery.lifecycle.prune_plan import PrunePlan, plan_prune
from bakery.lineage.records import iso_utc

DEFAULT_RETENTION = Retention(keep=3, max_age_days=None)


def run(args: argparse.Namespace) -> int:
    from bakery.aws.usage import apply_prune, gather

    for flag, value in (("--keep", args.keep), ("--max-age", args.max_age)):
        if value is not None and value < 0:
            raise BakeryError(f"{flag} must be 0 or more, not {value}")
    project = project_of(args)
    catalog = load_catalog(project)
    names = list(args.names or [])
    for name in names:
        if name not in catalog.recipes:
            print(
                f"bakery: note: no recipe {name} in this project; "
                f"pruning the images tagged bakery:recipe={name}",
                file=sys.stderr,
            )
    retention_for = retention_lookup(project, catalog.recipes, args.keep, args.max_age)
    with store_of(project, args) as store:
        regions = project_regions(catalog, store)
    recipes = set(names) or None
    gateway = gateway_of(args, project)
    now = datetime.now(UTC)
    facts = gather(
        gateway, regions, retention_for, now, recipes=recipes, include_shared=args.include_shared
    )
    plan = plan_prune(
        facts.images,
        facts.usage,
        retention_for,
        now,
        include_shared=args.include_shared,
        recipes=recipes,
    )
    problems = apply_prune(gateway, plan) if args.apply else []
    if args.apply:
        # the lineage keeps every build; it now says which of its images are gone
        gone = [d.ami_id for d in plan.to_delete if not any(d.ami_id in p for p in problems)]
        with store_of(project, args) as store:
            store.mark_removed(gone, iso_utc())
    if args.json:
        print_json(
            {
                "applied": bool(args.apply),
                "regions": regions,
                "decisions": [asdict(decision) for decision in plan.decisions],
                "summary": _summary(plan),
                "problems": problems,
                "calls": facts.calls,
            }
        )
    else:
        _print_plan(plan, regions, bool(args.apply), problems)
    return 1 if problems else 0


def retention_lookup(
    project: Project, recipes: Mapping[str, Recipe], keep: int | None, max_age: int | None
) -> Callable[[str], Retention]:
    """Return the retention of a recipe: flags, then the recipe's, then bakery.yaml's, then 3."""
    base = _configured(getattr(project, "retention", None), "bakery.yaml retention")
    cache: dict[str, Retention] = {}

    def lookup(recipe: str) -> Retention:
        if recipe not in cache:
            found = recipes.get(recipe)
            # A recipe carries keep and max_age_days itself (or, in older shapes, a retention).
            settings = getattr(found, "retention", None) or found
            own = _configured(settings, f"retention of recipe {recipe}")
            chosen_keep = _first(keep, own[0], base[0], DEFAULT_RETENTION.keep)
            chosen_age = _first(max_age, own[1], base[1], DEFAULT_RETENTION.max_age_days)
            try:
                cache[recipe] = Retention(chosen_keep or 0, chosen_age)
            except ValueError as error:
                raise BakeryError(f"retention of {recipe}: {error}") from error
        return cache[recipe]

    return lookup


def _first(*values: int | None) -> int | None:
    return next((value for value in values if value is not None), None)


def _configured(source: object, where: str) -> tuple[int | None, int | None]:
    """Read keep and max age (days) from a settings object or mapping, whichever it is."""
    if source is None:
        return None, None

    def read(*keys: str) -> int | None:
        for key in keys:
            value = source.get(key) if isinstance(source, Mapping) else getattr(source, key, None)
            if value is not None:
                try:
                    return int(value)
                except (TypeError, ValueError):
                    raise BakeryError(f"{where}: {key} must be a whole number") from None
        return None

    return read("keep"), read("max_age_days", "max_age")


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
