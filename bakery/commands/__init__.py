"""One module per command; each has `run(args) -> int`. Imported only when its command runs."""

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
    from bakery.lineage.store import LineageStore


def project_of(args: argparse.Namespace) -> Project:
    """Load the project named by -C, or the one found from the current folder up."""
    root = Path(args.project) if args.project else find_project(Path.cwd())
    return load_project(root)


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


def packer_env(settings: AwsSettings) -> dict[str, str]:
    """Environment for Packer: dummy credentials in local mode, the profile otherwise."""
    from bakery.packer.binary import build_environment

    extra = {"AWS_DEFAULT_REGION": settings.region, "AWS_REGION": settings.region}
    if settings.local:  # the same dummy credentials boto3 gets
        keys = settings.credentials
        extra |= {
            "AWS_ACCESS_KEY_ID": keys["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": keys["aws_secret_access_key"],
        }
    elif settings.profile:
        extra["AWS_PROFILE"] = settings.profile
    env = build_environment(extra)
    if settings.local:  # never let a real profile or session reach the emulator's builds
        from bakery.local.launcher import loopback_proxy_bypass

        env.pop("AWS_PROFILE", None)
        env.pop("AWS_SESSION_TOKEN", None)
        env.update(loopback_proxy_bypass(env))
    return env


def store_of(project: Project, args: argparse.Namespace | None = None) -> LineageStore:
    """Open the project's lineage store; a DynamoDB store goes through local mode too."""
    from bakery.lineage.store import open_store

    if not project.state.startswith("dynamodb:"):
        return open_store(project.state, project.root)  # SQLite never needs AWS settings
    aws = aws_settings(args or argparse.Namespace(), project)
    return open_store(
        project.state,
        project.root,
        region=aws.region,
        profile=aws.profile,
        endpoint_url=aws.endpoint_url,
        local=aws.local,
    )


def project_regions(catalog: Catalog, store: LineageStore | None = None) -> list[str]:
    """Return the regions bakery works in: the build region, every recipe's distribution
    regions, and (with a store) every region a recorded image lies in (copies included)."""
    regions = {catalog.project.region}
    regions.update(r for recipe in catalog.recipes.values() for r in recipe.distribute.regions)
    if store is not None:
        regions.update(image.region for record in store.builds() for image in record.images)
    return sorted(regions)
