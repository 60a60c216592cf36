"""One thin module per command: arguments -> one use-case call -> print. Each has
`run(args) -> int` and is imported only when its command runs, so `bakery --help` stays fast. No
command imports another; what several share (opening the project, the AWS settings, the store,
printing JSON) lives here.

May import: bakery.schedule, bakery.lifecycle, bakery.bake, bakery.lineage, bakery.aws,
bakery.local, bakery.packer, bakery.render, bakery.convert, bakery.ui, bakery.config,
bakery.errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bakery.config.project import Project, find_project, load_project
from bakery.errors import BakeryError

if TYPE_CHECKING:
    from bakery.aws.session import AwsSettings, Gateway
    from bakery.config.catalog import Catalog
    from bakery.config.params import GivenValues
    from bakery.lineage.records import Promotion
    from bakery.lineage.store import LineageStore


def project_of(args: argparse.Namespace) -> Project:
    """Load the project named by -C, or the one found from the current folder up."""
    root = Path(args.project) if args.project else find_project(Path.cwd())
    return load_project(root)


def catalog_of(project: Project, args: argparse.Namespace | None = None) -> Catalog:
    """Load the project's catalog and print its warnings (not ignored in bakery.yaml) to stderr.

    For the commands that act on what the recipes say (bake, render, plan, rebuild), with the
    parameter values of their --var and --var-file; the others load the catalog for its names
    and stay quiet about advice.
    """
    from bakery.config.catalog import load_catalog

    catalog = load_catalog(project, given=given_of(project, args))
    for warning in catalog.warnings:
        print(warning, file=sys.stderr)
    return catalog


def names_of(project: Project, name: str) -> list[str]:
    """The recipes `name` stands for on the command line: a family means its instances and
    `FAMILY[param=value]` some of them; any other name is taken as written (the store may know
    a recipe the project no longer has, or the recipes may not load now)."""
    from bakery.config.catalog import load_catalog
    from bakery.config.params import selector

    try:
        catalog = load_catalog(project)
    except BakeryError:
        if "[" in name:
            raise
        return [name]
    if name in catalog.recipes:
        return [name]
    try:
        selector(name)
    except ValueError as error:
        raise BakeryError(str(error)) from None
    if name in catalog.families or "[" in name:
        return catalog.expand(name)
    return [name]


def given_of(project: Project, args: argparse.Namespace | None) -> GivenValues:
    """The parameter values given: bakery.yaml's var files, then --var-file, then --var (and the
    BAKERY_VAR_ environment, read for the parameters recipes declare)."""
    from bakery.config.catalog import given_values

    var_files = [Path(path) for path in getattr(args, "var_file", None) or ()]
    return given_values(project, var_files, getattr(args, "var", None) or ())


def warn(message: str) -> None:
    """Print a warning of bakery's on stderr (the `note` that use cases take)."""
    print(f"bakery: warning: {message}", file=sys.stderr)


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=False, default=str)
    sys.stdout.write("\n")


def wants_local(args: argparse.Namespace, project: Project) -> bool:
    """Local mode: --local, BAKERY_LOCAL=1, or an endpoint in bakery.yaml."""
    return bool(
        getattr(args, "local", False)
        or os.environ.get("BAKERY_LOCAL") == "1"
        or project.endpoint_url
    )


def aws_settings(args: argparse.Namespace, project: Project) -> AwsSettings:
    """Settings for the AWS gateway: the real account, or the local emulator's endpoint."""
    from bakery.aws.session import AwsSettings

    if not wants_local(args, project):
        return AwsSettings(project.region, project.profile)
    from bakery.local.launcher import loopback_proxy_bypass, status

    os.environ.update(loopback_proxy_bypass(os.environ))  # the emulator is never behind a proxy
    endpoint = project.endpoint_url
    if endpoint is None:
        emulator = status(project.root)
        if emulator is None:
            raise BakeryError(
                "local mode, but the emulator is not running; start it with "
                "`bakery local start` (or run `make demo`)"
            )
        endpoint = emulator.endpoint_url
    return AwsSettings(project.region, None, endpoint, local=True)


def gateway_of(args: argparse.Namespace, project: Project) -> Gateway:
    from bakery.aws.session import Gateway

    return Gateway(aws_settings(args, project))


def store_of(
    project: Project, args: argparse.Namespace | None = None, *, read_only: bool = False
) -> LineageStore:
    """Open the project's lineage store; a DynamoDB store goes through local mode too.

    A command that changes AWS opens it writable and checks it is (`writable_store_of`); one
    that only reads passes `read_only`, so a read-only or full store can still be read. A
    store file found empty (lost or truncated) is reported on stderr.
    """
    from bakery.lineage.store import empty_store_file, open_store

    empty = empty_store_file(project.state, project.root)
    if empty is not None:
        print(
            f"warning: the lineage store {empty} is empty (0 bytes): its records are lost. "
            "What is up to date is decided from the images' tags; run `bakery state import` "
            "to recreate the lineage from them, or restore a backup",
            file=sys.stderr,
        )
    if not project.state.startswith("dynamodb:"):
        # SQLite never needs AWS settings
        return open_store(project.state, project.root, read_only=read_only)
    aws = aws_settings(args or argparse.Namespace(), project)
    return open_store(
        project.state,
        project.root,
        region=aws.region,
        profile=aws.profile,
        endpoint_url=aws.endpoint_url,
        local=aws.local,
    )


def writable_store_of(project: Project, args: argparse.Namespace | None = None) -> LineageStore:
    """Open the store for a command that changes AWS: refused now, before any change, if the
    store could not record what the command is about to do (read-only, full)."""
    store = store_of(project, args)
    try:
        store.check_writable()
    except BaseException:
        store.close()
        raise
    return store


def project_regions(catalog: Catalog, store: LineageStore | None = None) -> list[str]:
    """Return the regions bakery works in: the build region, every recipe's distribution
    regions, and (with a store) every region a recorded image lies in (copies included)."""
    regions = {catalog.project.region}
    regions.update(r for recipe in catalog.recipes.values() for r in recipe.distribute.regions)
    if store is not None:
        regions.update(image.region for record in store.builds() for image in record.images)
    return sorted(regions)


def print_promotion(promotion: Promotion, as_json: bool) -> None:
    """Print where a channel points now (promote, rollback), as a line or as JSON."""
    if as_json:
        from dataclasses import asdict

        print_json(asdict(promotion))
        return
    images = " ".join(f"{i.region}:{i.ami_id}" for i in promotion.images)
    before = f" (was {promotion.previous_build_id})" if promotion.previous_build_id else ""
    print(f"{promotion.recipe} channel {promotion.channel} → {promotion.build_id} {images}{before}")
