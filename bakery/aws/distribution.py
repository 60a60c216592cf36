"""Copy images to other regions (encrypted) and share them with accounts."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from bakery.aws.images import Image, describe_image, snapshot_ids, tags_of
from bakery.aws.session import AwsError, Gateway, calling
from bakery.config.schema import UNIT_ARN_PATTERN

ACCOUNT_ID = re.compile(r"[0-9]{12}")
ORGANIZATION_ARN = re.compile(UNIT_ARN_PATTERN)
T = TypeVar("T")
R = TypeVar("R")


def in_parallel(items: Iterable[T], work: Callable[[T], R], limit: int = 8) -> list[R]:
    """Run `work` for every item (one per region, say) at once; results in the same order."""
    items = list(items)
    if len(items) <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(limit, len(items))) as pool:
        return list(pool.map(work, items))


def source_image(gateway: Gateway, region: str, ami_id: str) -> Image:
    """Return an image that must exist, or an AwsError naming it."""
    image = describe_image(gateway, region, ami_id)
    if image is None:
        raise AwsError(f"ec2 DescribeImages in {region} for {ami_id}: the image does not exist")
    return image


def copy_token(build_id: str, ami_id: str, target_region: str) -> str:
    """The CopyImage client token of one build's copy to one region (64 characters at most).

    The same copy always gets the same token, so EC2 answers a retried or repeated CopyImage
    with the copy it already made instead of making a second one.
    """
    return hashlib.sha256(f"{build_id}:{ami_id}:{target_region}".encode()).hexdigest()[:64]


def find_copy(gateway: Gateway, region: str, name: str) -> str | None:
    """Return the image of this account named `name` in `region`, in any state but gone.

    AMI names are unique per account and region, so this finds a copy whose CopyImage answer
    was lost, or whose tags never arrived.
    """
    ec2 = gateway.client("ec2", region)
    with calling("ec2", "DescribeImages", region, name):
        found = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [name]}])[
            "Images"
        ]
    alive = [image for image in found if image.get("State") not in ("deregistered", "failed")]
    return str(alive[0]["ImageId"]) if alive else None


def copy_image(
    gateway: Gateway,
    source_region: str,
    ami_id: str,
    target_region: str,
    kms_key_id: str | None,
    *,
    token: str,
    tags: Mapping[str, str],
) -> str:
    """Start an encrypted copy of an image in another region; return the new AMI id.

    Idempotent: the client token makes EC2 return the first copy on a repeat, and a copy that
    exists by name (a lost answer, a token EC2 no longer remembers) is returned, not doubled.
    The tags are given at creation, image and snapshots, so a copy is never untagged.
    """
    image = source_image(gateway, source_region, ami_id)
    name = image.get("Name") or ami_id
    existing = find_copy(gateway, target_region, name)
    if existing is not None:
        return existing
    listed = [{"Key": key, "Value": value} for key, value in tags.items()]
    arguments: dict[str, object] = {
        "SourceImageId": ami_id,
        "SourceRegion": source_region,
        "Name": name,
        "Description": image.get("Description", ""),
        "Encrypted": True,
        "ClientToken": token,
        "TagSpecifications": [
            {"ResourceType": "image", "Tags": listed},
            {"ResourceType": "snapshot", "Tags": listed},
        ],
    }
    if kms_key_id:
        arguments["KmsKeyId"] = kms_key_id
    try:
        with calling("ec2", "CopyImage", target_region, f"{ami_id} from {source_region}"):
            copied = gateway.client("ec2", target_region).copy_image(**arguments)
    except AwsError as error:
        if error.code != "InvalidAMIName.Duplicate":
            raise
        # the first CopyImage went through but its answer was lost: that is our copy
        found = find_copy(gateway, target_region, name)
        if found is None:
            raise
        return found
    return str(copied["ImageId"])


def image_tags(gateway: Gateway, region: str, ami_id: str) -> dict[str, str]:
    """Return the tags of an image."""
    return tags_of(source_image(gateway, region, ami_id))


def share_image(gateway: Gateway, region: str, ami_id: str, accounts: Sequence[str]) -> None:
    """Give accounts launch permission on an image and create-volume on its snapshots."""
    _add_permissions(gateway, region, ami_id, accounts)


def unshare_image(
    gateway: Gateway, region: str, ami_id: str, accounts: Sequence[str]
) -> tuple[str, ...]:
    """Take launch permission on an image, and create-volume on its snapshots, from everyone.

    Everyone: `accounts` (those recorded) and whoever else EC2 says holds it, the group `all`
    (a public image) included. Returns who lost it, sorted (`all` for the public group).
    """
    ec2 = gateway.client("ec2", region)
    image = source_image(gateway, region, ami_id)
    holders = launch_permissions(gateway, region, ami_id)
    named = [account for account in accounts if ACCOUNT_ID.fullmatch(account)]
    users = sorted({*named, *(h["UserId"] for h in holders if "UserId" in h)})
    groups = sorted({h["Group"] for h in holders if "Group" in h})
    units = sorted(
        {
            *(a for a in accounts if ORGANIZATION_ARN.fullmatch(a)),
            *(h[key] for h in holders for key in _UNIT_KEYS if key in h),
        }
    )
    if users or groups or units:
        with calling("ec2", "ModifyImageAttribute", region, ami_id):
            ec2.modify_image_attribute(
                ImageId=ami_id,
                LaunchPermission={
                    "Remove": [{"UserId": u} for u in users]
                    + [{"Group": g} for g in groups]
                    + [_unit_permission(arn) for arn in units]
                },
            )
    removed = {*users, *groups, *units}
    accounts = named
    for snapshot in snapshot_ids(image):
        with calling("ec2", "DescribeSnapshotAttribute", region, snapshot):
            found = ec2.describe_snapshot_attribute(
                SnapshotId=snapshot, Attribute="createVolumePermission"
            ).get("CreateVolumePermissions", [])
        snap_users = sorted({*accounts, *(f["UserId"] for f in found if "UserId" in f)})
        snap_groups = sorted({f["Group"] for f in found if "Group" in f})
        if not snap_users and not snap_groups:
            continue
        arguments: dict[str, object] = {"UserIds": snap_users} if snap_users else {}
        if snap_groups:
            arguments["GroupNames"] = snap_groups
        with calling("ec2", "ModifySnapshotAttribute", region, snapshot):
            ec2.modify_snapshot_attribute(
                SnapshotId=snapshot,
                Attribute="createVolumePermission",
                OperationType="remove",
                **arguments,
            )
        removed.update(snap_users, snap_groups)
    return tuple(sorted(removed))


_UNIT_KEYS = ("OrganizationArn", "OrganizationalUnitArn")


def _unit_permission(arn: str) -> dict[str, str]:
    """The launch permission of an organization or organizational unit ARN."""
    return {"OrganizationalUnitArn" if ":ou/" in arn else "OrganizationArn": arn}


def launch_permissions(gateway: Gateway, region: str, ami_id: str) -> list[dict[str, str]]:
    """Return the launch permissions of an image: `{"UserId": ...}` or `{"Group": "all"}`."""
    ec2 = gateway.client("ec2", region)
    with calling("ec2", "DescribeImageAttribute", region, ami_id):
        found = ec2.describe_image_attribute(ImageId=ami_id, Attribute="launchPermission")
    return list(found.get("LaunchPermissions", []))


def _add_permissions(gateway: Gateway, region: str, ami_id: str, accounts: Sequence[str]) -> None:
    # The last guard before AWS: only account ids, never the group `all` (a public image).
    # lifecycle.gates.grant_problems explains a refusal; this only makes one impossible.
    odd = [
        account
        for account in accounts
        if not (ACCOUNT_ID.fullmatch(account) or ORGANIZATION_ARN.fullmatch(account))
    ]
    if odd:
        raise AwsError(
            f"refusing to change launch permission of {ami_id} in {region} for "
            f"{', '.join(map(repr, odd))}: only 12-digit account ids and organization ARNs, "
            "never a public group"
        )
    if not accounts:
        return
    units = [account for account in accounts if ORGANIZATION_ARN.fullmatch(account)]
    accounts = [account for account in accounts if ACCOUNT_ID.fullmatch(account)]
    ec2 = gateway.client("ec2", region)
    with calling("ec2", "ModifyImageAttribute", region, ami_id):
        ec2.modify_image_attribute(
            ImageId=ami_id,
            LaunchPermission={
                "Add": [{"UserId": account} for account in accounts]
                + [_unit_permission(arn) for arn in units]
            },
        )
    if not accounts:
        return  # EC2 shares the snapshots of an image shared with an organization itself
    for snapshot in snapshot_ids(source_image(gateway, region, ami_id)):
        with calling("ec2", "ModifySnapshotAttribute", region, snapshot):
            ec2.modify_snapshot_attribute(
                SnapshotId=snapshot,
                Attribute="createVolumePermission",
                OperationType="add",
                UserIds=list(accounts),
            )


def product_codes(gateway: Gateway, region: str, ami_id: str) -> tuple[str, ...]:
    """Return the AWS Marketplace product codes an image carries."""
    image = source_image(gateway, region, ami_id)
    return tuple(code["ProductCodeId"] for code in image.get("ProductCodes", []))


def kms_key_for(region: str, *tables: Mapping[str, str]) -> str | None:
    """Return the first key given for `region` in the tables (recipe's, then bakery.yaml's)."""
    for table in tables:
        if region in table:
            return table[region]
    return None
