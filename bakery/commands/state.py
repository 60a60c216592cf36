"""`bakery state`: import the store from AWS tags, create it (init), or copy it (migrate)."""

from __future__ import annotations

import argparse
import sys

from bakery.commands import aws_settings, gateway_of, print_json, project_of, project_regions
from bakery.config.catalog import load_catalog
from bakery.config.project import Project
from bakery.errors import UsageError
from bakery.lineage.store import LineageStore, open_store


def run(args: argparse.Namespace) -> int:
    project = project_of(args)
    if args.action == "init":
        return _init(args, project)
    if args.to is not None:
        if args.action == "migrate":
            return _migrate(args, project, args.to)
        raise UsageError(f"--to is for `state init` and `state migrate`, not `state {args.action}`")
    if args.action == "migrate":
        raise UsageError("state migrate needs --to URL: the store to copy the records into")
    return _import(args, project)


def open_url(url: str, args: argparse.Namespace, project: Project) -> LineageStore:
    """Open the store of a state URL, reaching DynamoDB the way the project reaches AWS."""
    if not url.startswith("dynamodb:"):
        return open_store(url, project.root)
    aws = aws_settings(args, project)  # the emulator in local mode
    return open_store(
        url,
        project.root,
        region=aws.region,
        profile=aws.profile,
        endpoint_url=aws.endpoint_url,
        local=aws.local,
    )


def _import(args: argparse.Namespace, project: Project) -> int:
    from bakery.lineage.tag_import import import_from_aws

    catalog = load_catalog(project)
    # Not the store's regions: importing is for when the store is lost.
    regions = project_regions(catalog)
    gateway = gateway_of(args, project)
    with open_url(project.state, args, project) as store:
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


def _init(args: argparse.Namespace, project: Project) -> int:
    from dataclasses import replace

    from bakery.aws.session import Gateway
    from bakery.lineage.dynamodb.setup import ensure_table
    from bakery.lineage.dynamodb.store import parse_url

    url = args.to or project.state
    if not url.startswith("dynamodb:"):
        open_store(url, project.root).close()  # refuses a URL that names no store
        if args.json:
            print_json({"url": url, "created": False})
        else:
            print(f"{url}: a SQLite store needs no setup (bakery creates the file on first use)")
        return 0
    table, region = parse_url(url)
    settings = aws_settings(args, project)
    if region is not None:
        settings = replace(settings, region=region)
    setup = ensure_table(Gateway(settings), table)
    if args.json:
        print_json(
            {
                "url": url,
                "table": setup.table,
                "region": setup.region,
                "created": setup.created,
                "point_in_time_recovery": setup.point_in_time_recovery,
            }
        )
    else:
        done = "created" if setup.created else "already exists:"
        print(
            f"{done} DynamoDB table {setup.table} in {setup.region} "
            "(on-demand capacity, point-in-time recovery on)"
        )
    return 0


def _migrate(args: argparse.Namespace, project: Project, url: str) -> int:
    from bakery.lineage.migrate import migrate

    if url == project.state:
        raise UsageError(f"--to {url} is the store bakery.yaml already uses; name another one")
    with open_url(project.state, args, project) as source, open_url(url, args, project) as target:
        report = migrate(source, target)
    if args.json:
        print_json(
            {
                "from": project.state,
                "to": url,
                "ok": report.ok,
                "counts": [vars(count) for count in report.counts],
            }
        )
    else:
        print(f"{'kind':<12} {'source':>7} {'target':>7} {'copied':>7}")
        for count in report.counts:
            mark = "" if count.ok else "  MISMATCH"
            print(f"{count.kind:<12} {count.source:>7} {count.target:>7} {count.copied:>7}{mark}")
        if report.ok:
            print(f"migrated {project.state} to {url}; set `state: {url}` in bakery.yaml to use it")
        else:
            print(
                f"bakery: error: {url} does not hold what {project.state} holds; see above",
                file=sys.stderr,
            )
    return 0 if report.ok else 1
