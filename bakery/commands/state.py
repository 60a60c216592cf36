"""`bakery state import`: recreate the lineage store from the tags of managed images."""

from __future__ import annotations

import argparse

from bakery.catalog import load_catalog
from bakery.commands import gateway_of, print_json, project_of, project_regions, store_of


def run(args: argparse.Namespace) -> int:
    from bakery.state_import import import_from_aws

    project = project_of(args)
    catalog = load_catalog(project)
    # Not the store's regions: importing is for when the store is lost.
    regions = project_regions(catalog)
    gateway = gateway_of(args, project)
    with store_of(project) as store:
        report = import_from_aws(gateway, store, regions, project.region)
    if args.json:
        print_json(
            {
                "builds": report.builds,
                "images": report.images,
                "linked": report.linked,
                "skipped": list(report.skipped),
            }
        )
    else:
        print(
            f"imported {report.builds} builds ({report.images} images in "
            f"{len(regions)} regions), {report.linked} parent links"
        )
        for item in report.skipped:
            print(f"skipped {item}: managed image without bakery:build-id or bakery:recipe")
    return 0
