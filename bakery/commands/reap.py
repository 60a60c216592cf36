"""`bakery reap [--apply]`: builder leftovers whose build is not running any more."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from bakery.commands import gateway_of, print_json, project_of, project_regions, store_of
from bakery.config.catalog import load_catalog
from bakery.lineage.records import Status


def run(args: argparse.Namespace) -> int:
    from bakery.aws.leftovers import find_leftovers, remove_leftovers

    project = project_of(args)
    catalog = load_catalog(project)
    gateway = gateway_of(args, project)
    with store_of(project, args) as store:
        regions = project_regions(catalog, store)

        def running(build_id: str) -> bool:
            record = store.get(build_id)
            return record is not None and record.status is Status.RUNNING

        leftovers = [
            item for region in sorted(regions) for item in find_leftovers(gateway, region, running)
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
            print(
                f"{verb} {item.kind} {item.resource_id} {item.name} in {item.region} "
                f"(build {item.build_id or 'unknown'})".replace("  ", " ")
            )
        if not leftovers:
            print("no leftovers of finished builds")
        elif not args.apply:
            print("dry run: rerun with --apply to remove them")
        for problem in problems:
            print(f"problem: {problem}")
    return 1 if problems else 0
