"""`bakery copy REF --to REGION...`: encrypted copies in more regions, recorded as the build's."""

from __future__ import annotations

import argparse
import sys

from bakery.commands import gateway_of, print_json, project_of, warn, writable_store_of
from bakery.config.catalog import load_catalog
from bakery.errors import EXIT_FAILED, UsageError, safe_message


def run(args: argparse.Namespace) -> int:
    from bakery.lifecycle.distribute import copy_build, unknown_regions
    from bakery.lifecycle.refs import resolve_image_ref

    unknown = unknown_regions(args.to)
    if unknown:
        raise UsageError(
            f"--to: {', '.join(map(repr, unknown))} {'is' if len(unknown) == 1 else 'are'} "
            "not an AWS region; name regions like us-west-2 or eu-central-1"
        )
    project = project_of(args)
    catalog = load_catalog(project)
    gateway = gateway_of(args, project)
    with writable_store_of(project, args) as store:
        record = resolve_image_ref(store, args.ref, warn)
        results = copy_build(
            gateway, store, project, record, catalog.recipes.get(record.recipe), args.to
        )
    if args.json:
        print_json([vars(result) for result in results])
    failed = [result for result in results if result.error]
    for result in failed:
        made = f" (the copy {result.ami_id} is recorded)" if result.ami_id else ""
        print(
            f"bakery: error: copy to {result.region} failed{made}: {safe_message(result.error)}; "
            "rerun the same command to finish it",
            file=sys.stderr,
        )
    for result in results if not args.json else ():
        if result.error:
            continue
        verb = "copied to" if result.copied else "already in"
        print(
            f"{record.recipe} {record.version} ({record.build_id}): {verb} "
            f"{result.region} as {result.ami_id}"
        )
        if result.shared_with:
            print(f"  shared with {', '.join(result.shared_with)}, as the build is")
        if result.withheld:
            print(
                f"  not shared with {', '.join(result.withheld)}: no longer in share_allowlist "
                "of bakery.yaml"
            )
    return EXIT_FAILED if failed else 0
