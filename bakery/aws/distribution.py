"""Copy images to other regions (encrypted) and share them with accounts."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from bakery.aws.images import Image, describe_image, snapshot_ids, tags_of
from bakery.aws.session import AwsError, Gateway, calling

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


def copy_image(
    gateway: Gateway, source_region: str, ami_id: str, target_region: str, kms_key_id: str | None
) -> str:
    """Start an encrypted copy of an image in another region; return the new AMI id."""
    image = source_image(gateway, source_region, ami_id)
    arguments: dict[str, object] = {
        "SourceImageId": ami_id,
        "SourceRegion": source_region,
        "Name": image.get("Name") or ami_id,
        "Description": image.get("Description", ""),
        "Encrypted": True,
    }
    if kms_key_id:
        arguments["KmsKeyId"] = kms_key_id
    with calling("ec2", "CopyImage", target_region, f"{ami_id} from {source_region}"):
        copied = gateway.client("ec2", target_region).copy_image(**arguments)
    return str(copied["ImageId"])


def image_tags(gateway: Gateway, region: str, ami_id: str) -> dict[str, str]:
    """Return the tags of an image."""
    return tags_of(source_image(gateway, region, ami_id))


def share_image(gateway: Gateway, region: str, ami_id: str, accounts: Sequence[str]) -> None:
    """Give accounts launch permission on an image and create-volume on its snapshots."""
    ec2 = gateway.client("ec2", region)
    with calling("ec2", "ModifyImageAttribute", region, ami_id):
        ec2.modify_image_attribute(
            ImageId=ami_id,
            LaunchPermission={"Add": [{"UserId": account} for account in accounts]},
        )
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
