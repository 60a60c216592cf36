"""`bakery share REF --accounts ID...`: launch permission, and create-volume on snapshots."""

from __future__ import annotations

import argparse

from bakery.commands import gateway_of, print_json, project_of, warn, writable_store_of
from bakery.config.catalog import load_catalog
from bakery.errors import BakeryError


def run(args: argparse.Namespace) -> int:
    from bakery.lifecycle.distribute import share_build
    from bakery.lifecycle.gates import grant_problems
    from bakery.lifecycle.refs import resolve_image_ref

    project = project_of(args)
    refused = grant_problems(args.accounts, project.share_allowlist)
    if refused:  # before any call; share_build checks again, with the image's licensing
        raise BakeryError("; ".join(refused))
    catalog = load_catalog(project)
    gateway = gateway_of(args, project)
    with writable_store_of(project, args) as store:
        record = resolve_image_ref(store, args.ref, warn)
        images = share_build(
            gateway, store, project, record, catalog.recipes.get(record.recipe), args.accounts
        )
    if args.json:
        print_json({"build_id": record.build_id, "images": images, "accounts": args.accounts})
    else:
        print(
            f"{record.recipe} {record.version} ({record.build_id}) shared with "
            f"{', '.join(args.accounts)}: {' '.join(images)}"
        )
    return 0
