"""`copy` and `share`: images to more regions, launch permission to more accounts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bakery.aws import distribution as aws
from bakery.aws.images import snapshot_ids, tag_resources, wait_available
from bakery.aws.session import Gateway
from bakery.config.project import Project
from bakery.config.recipe import Recipe
from bakery.errors import BakeryError
from bakery.lifecycle.gates import share_problems
from bakery.lifecycle.refs import who
from bakery.lineage.queries import ancestry
from bakery.lineage.records import BuildRecord, RegionImage, Share, Status, iso_utc
from bakery.lineage.store import LineageStore


@dataclass(frozen=True)
class CopyResult:
    region: str
    ami_id: str
    copied: bool  # False when the build already had an image there


def copy_build(
    gateway: Gateway,
    store: LineageStore,
    project: Project,
    record: BuildRecord,
    recipe: Recipe | None,
    regions: Sequence[str],
) -> list[CopyResult]:
    """Copy a build's image to `regions`, encrypted, with its tags; record them as the build's."""
    if record.status is not Status.SUCCEEDED:
        raise BakeryError(
            f"build {record.build_id} did not succeed ({record.status}); "
            "only succeeded builds are copied"
        )
    home = record.image_in(record.region) or (record.images[0] if record.images else None)
    if home is None:
        raise BakeryError(f"build {record.build_id} has no image to copy")
    tags = aws.image_tags(gateway, home.region, home.ami_id)
    recipe_keys = recipe.distribute.kms_key_ids if recipe else {}

    def copy_one(region: str) -> CopyResult:
        existing = record.image_in(region)
        if existing is not None:
            return CopyResult(region, existing.ami_id, False)
        key = aws.kms_key_for(region, recipe_keys, project.kms_key_ids)
        ami = aws.copy_image(gateway, home.region, home.ami_id, region, key)
        # recorded at once: a copy that exists must never be missing from the store
        store.add_images(record.build_id, [RegionImage(region, ami)])
        image = wait_available(gateway, region, ami)
        snapshots = snapshot_ids(image)
        tag_resources(gateway, region, [ami, *snapshots], tags)  # CopyImage drops tags
        store.add_images(record.build_id, [RegionImage(region, ami, snapshots)])
        return CopyResult(region, ami, True)

    return aws.in_parallel(sorted(set(regions)), copy_one)


def share_build(
    gateway: Gateway,
    store: LineageStore,
    project: Project,
    record: BuildRecord,
    recipe: Recipe | None,
    accounts: Sequence[str],
) -> list[str]:
    """Share every image of a build with `accounts` after the allowlist and licensing checks."""
    if record.status is not Status.SUCCEEDED or not record.images:
        raise BakeryError(f"build {record.build_id} has no images to share ({record.status})")
    first = record.images[0]
    codes = aws.product_codes(gateway, first.region, first.ami_id)
    problems = share_problems(
        record,
        ancestry(store, record),
        accounts,
        project.share_allowlist,
        shareable=bool(recipe and recipe.shareable),
        image_product_codes=codes,
    )
    if problems:
        raise BakeryError("; ".join(problems))
    aws.in_parallel(
        record.images, lambda image: aws.share_image(gateway, image.region, image.ami_id, accounts)
    )
    at, by = iso_utc(), who()
    for account in accounts:
        store.add_share(Share(record.build_id, account, at, by))
    return [f"{image.region}:{image.ami_id}" for image in record.images]
