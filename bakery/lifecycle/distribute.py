"""`copy` and `share`: images to more regions, launch permission to more accounts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from bakery.aws import distribution as aws
from bakery.aws.images import Image, snapshot_ids, tag_resources, tags_of, wait_available
from bakery.aws.session import Gateway, known_regions
from bakery.config.project import Project
from bakery.config.recipe import Recipe
from bakery.errors import BakeryError
from bakery.lifecycle.gates import grant_problems, share_problems
from bakery.lifecycle.refs import who
from bakery.lineage.queries import ancestry
from bakery.lineage.records import BuildRecord, RegionImage, Share, Status, iso_utc
from bakery.lineage.store import LineageStore


@dataclass(frozen=True)
class CopyResult:
    region: str
    ami_id: str
    copied: bool  # False when the build already had an image there
    shared_with: tuple[str, ...] = ()  # the build's shares, given to the copy too
    withheld: tuple[str, ...] = ()  # shares of the build share_allowlist no longer allows
    error: str = ""  # why this region's copy failed (the others went on)


def unknown_regions(regions: Sequence[str]) -> list[str]:
    """Return the names in `regions` that are no AWS region (of any partition botocore knows)."""
    known = known_regions()
    return [region for region in regions if region not in known]


def copy_build(
    gateway: Gateway,
    store: LineageStore,
    project: Project,
    record: BuildRecord,
    recipe: Recipe | None,
    regions: Sequence[str],
) -> list[CopyResult]:
    """Copy a build's image to `regions`, encrypted, with its tags; record them as the build's.

    A copy is shared with the accounts the build is shared with, those share_allowlist still
    allows (the others are withheld and reported). Each region has its own result: one that
    fails carries its error, and a rerun finishes it.
    """
    unknown = unknown_regions(regions)
    if unknown:
        raise BakeryError(
            f"{', '.join(map(repr, unknown))} {'is' if len(unknown) == 1 else 'are'} not an AWS "
            "region; name regions like us-west-2 or eu-central-1"
        )
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
    shared = [share.account for share in store.shares(record.build_id) if share.active]
    allowed = tuple(a for a in shared if not grant_problems([a], project.share_allowlist))
    withheld = tuple(a for a in shared if a not in allowed)

    def copy_one(region: str) -> CopyResult:
        # A copy is complete when it is available, tagged (image and snapshots), shared as
        # the build is and recorded with its snapshots; a rerun finishes what is missing.
        existing = record.image_in(region)
        copied = existing is None
        if existing is None:
            key = aws.kms_key_for(region, recipe_keys, project.kms_key_ids)
            token = aws.copy_token(record.build_id, home.ami_id, region)
            ami = aws.copy_image(
                gateway, home.region, home.ami_id, region, key, token=token, tags=tags
            )
            # recorded at once: a copy that exists must never be missing from the store
            store.add_images(record.build_id, [RegionImage(region, ami)])
        else:
            ami = existing.ami_id
        image = wait_available(gateway, region, ami)
        snapshots = snapshot_ids(image)
        if copied or not existing or existing.snapshot_ids != snapshots or _untagged(image, tags):
            # again after creation: an older EC2 (or the emulator) drops TagSpecifications
            tag_resources(gateway, region, [ami, *snapshots], tags)
            store.add_images(record.build_id, [RegionImage(region, ami, snapshots)])
        aws.share_image(gateway, region, ami, allowed)  # CopyImage drops launch permissions
        return CopyResult(region, ami, copied, allowed, withheld)

    def copy_or_fail(region: str) -> CopyResult:
        try:
            return copy_one(region)
        except BakeryError as error:  # one region's failure stops no other
            found = store.get(record.build_id)
            made = found.image_in(region) if found else None
            return CopyResult(region, made.ami_id if made else "", False, error=str(error))

    return aws.in_parallel(sorted(set(regions)), copy_or_fail)


def _untagged(image: Image, tags: Mapping[str, str]) -> bool:
    """Whether an image lacks any of `tags` (its snapshots are tagged in the same call)."""
    have = tags_of(image)
    return any(have.get(key) != value for key, value in tags.items())


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
    # recorded first: AWS may fail midway, and a revocation must find every account to unshare
    at, by = iso_utc(), who()
    for account in accounts:
        store.add_share(Share(record.build_id, account, at, by))
    live = [image for image in record.images if image.removed_at is None]
    aws.in_parallel(
        live, lambda image: aws.share_image(gateway, image.region, image.ami_id, accounts)
    )
    return [f"{image.region}:{image.ami_id}" for image in live]


def unshare_build(gateway: Gateway, store: LineageStore, record: BuildRecord) -> tuple[str, ...]:
    """Take launch permission on every image of a build from every account that holds it.

    Those recorded and those EC2 names (a share made outside bakery, a public image). Returns
    who lost it; each stays recorded as a share, with when and by whom it was removed.
    """
    recorded = {share.account: share for share in store.shares(record.build_id)}
    active = [account for account, share in recorded.items() if share.active]
    live = [image for image in record.images if image.removed_at is None]
    removed = aws.in_parallel(
        live, lambda image: aws.unshare_image(gateway, image.region, image.ami_id, active)
    )
    everyone = sorted({*active, *(holder for found in removed for holder in found)})
    at, by = iso_utc(), who()
    for account in everyone:
        share = recorded.get(account) or Share(record.build_id, account, at, "outside bakery")
        if share.active:
            store.add_share(replace(share, removed_at=at, removed_by=by))
    return tuple(everyone)
