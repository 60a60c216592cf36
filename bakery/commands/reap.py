"""`bakery reap [--apply]`: what builds that are not running any more left behind, and why."""

from __future__ import annotations

import argparse
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bakery.commands import gateway_of, print_json, project_of, project_regions, store_of
from bakery.config.catalog import load_catalog
from bakery.config.recipe import Recipe
from bakery.lineage.leases import build_gone
from bakery.lineage.records import BuildRecord, Status

if TYPE_CHECKING:
    from bakery.aws.leftovers import BuildClues


def run(args: argparse.Namespace) -> int:
    from bakery.aws.leftovers import find_leftovers, remove_leftovers

    project = project_of(args)
    catalog = load_catalog(project)
    gateway = gateway_of(args, project)
    with store_of(project, args, read_only=True) as store:
        regions = project_regions(catalog, store)
        # A build whose bakery process has ended (on this host) or whose lease lapsed (a lost
        # runner machine) runs no more: what it left is reaped as an interrupted build's.
        records = [
            replace(record, status=Status.INTERRUPTED)
            if record.status is Status.RUNNING and build_gone(store, record)
            else record
            for record in store.builds()
        ]
    statuses = {record.build_id: record.status for record in records}
    clues = [_clues(project.root, record, catalog.recipes.get(record.recipe)) for record in records]
    recorded = frozenset(
        resource
        for record in records
        for image in record.images
        for resource in (image.ami_id, *image.snapshot_ids)
    )

    def running(build_id: str) -> bool:
        return statuses.get(build_id) is Status.RUNNING

    leftovers = [
        item
        for region in sorted(regions)
        for item in find_leftovers(gateway, region, running, clues, recorded)
    ]
    problems = remove_leftovers(gateway, leftovers) if args.apply else []
    if args.json:
        print_json(
            {
                "applied": args.apply,
                "leftovers": [asdict(i) for i in leftovers],
                "problems": problems,
            }
        )
    else:
        verb = "removed" if args.apply else "would remove"
        for item in leftovers:
            snapshots = f" with snapshots {', '.join(item.snapshots)}" if item.snapshots else ""
            print(
                f"{verb} {item.kind} {item.resource_id} {item.name}{snapshots} in {item.region} "
                f"(build {item.build_id or 'unknown'}): {item.reason}".replace("  ", " ")
            )
        if not leftovers:
            print("no leftovers of finished builds")
        elif not args.apply:
            print("dry run: rerun with --apply to remove them")
        for problem in problems:
            print(f"problem: {problem}")
    return 1 if problems else 0


def _clues(root: Path, record: BuildRecord, recipe: Recipe | None) -> BuildClues:
    """What reap may use of a record; the logs of succeeded builds are not read (not needed)."""
    from bakery.aws.leftovers import BuildClues, LogNames, read_log
    from bakery.render.build_folder import ami_name, ami_name_prefix, name_prefix

    started, ended = _moment(record.started_at), _moment(record.ended_at)
    # The template's AMI name: NAME-VERSION-YYYYMMDDhhmmss of the build's start, the same
    # moment as started_at (bakery.render.build_folder.ami_name, bakery.bake.build_one), or
    # the recipe's own `ami_name` template filled in for the build.
    prefix = name_prefix(record.recipe, record.version) + "-"
    stamp = started.strftime("%Y%m%d%H%M%S") if started else ""
    if recipe is not None and recipe.ami_name is not None:
        prefix = ami_name_prefix(recipe)
        stamp = ami_name(recipe, started, record.build_id)[len(prefix) :] if started else ""
    log = LogNames() if record.status is Status.SUCCEEDED else read_log(root, record.log_path)
    return BuildClues(
        build_id=record.build_id,
        status=record.status.value,
        region=record.region,
        started=started,
        ended=ended,
        ami_name=prefix + stamp if stamp else "",
        ami_name_prefix=prefix,
        source_ami=record.source.resolved_ami,
        log=log,
        log_path=record.log_path or "",
    )


def _moment(stamp: str | None) -> datetime | None:
    if not stamp:
        return None
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return None  # a record from elsewhere with a time bakery cannot read: no time evidence
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
