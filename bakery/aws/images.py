"""Images: find them by tag, read their snapshots, tag them, wait for them to be available."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bakery.aws.session import AwsError, Gateway, calling

Image = dict[str, Any]


def describe_image(gateway: Gateway, region: str, ami_id: str) -> Image | None:
    """Return the image `ami_id` in `region`, or None when it does not exist."""
    with calling("ec2", "DescribeImages", region, ami_id):
        try:
            images = gateway.client("ec2", region).describe_images(ImageIds=[ami_id])["Images"]
        except Exception as error:  # a missing image is an answer here, not a failure
            if _code(error) in ("InvalidAMIID.NotFound", "InvalidAMIID.Unavailable"):
                return None
            raise
    return images[0] if images else None


def find_images(
    gateway: Gateway,
    region: str,
    tags: Mapping[str, str] | None = None,
    *,
    owners: Sequence[str] = ("self",),
    name: str | None = None,
    extra_filters: Sequence[Mapping[str, Any]] = (),
    include_deprecated: bool = False,
) -> list[Image]:
    """List available images filtered on the server by owner, tags and name, newest first
    (deprecated ones too when `include_deprecated`)."""
    filters: list[Mapping[str, Any]] = [{"Name": "state", "Values": ["available"]}]
    filters += [{"Name": f"tag:{key}", "Values": [value]} for key, value in (tags or {}).items()]
    if name:
        filters.append({"Name": "name", "Values": [name]})
    filters += list(extra_filters)
    found: list[Image] = []
    with calling("ec2", "DescribeImages", region):
        paginator = gateway.client("ec2", region).get_paginator("describe_images")
        more: dict[str, Any] = {"IncludeDeprecated": True} if include_deprecated else {}
        for page in paginator.paginate(Owners=list(owners), Filters=filters, **more):
            found.extend(page["Images"])
    return sorted(
        found, key=lambda image: (image.get("CreationDate", ""), image["ImageId"]), reverse=True
    )


def snapshot_ids(image: Image) -> tuple[str, ...]:
    """Return the EBS snapshot ids of an image's block devices."""
    return tuple(
        mapping["Ebs"]["SnapshotId"]
        for mapping in image.get("BlockDeviceMappings", [])
        if mapping.get("Ebs", {}).get("SnapshotId")
    )


def tags_of(image: Image) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in image.get("Tags", [])}


def tag_resources(
    gateway: Gateway, region: str, resource_ids: Sequence[str], tags: Mapping[str, str]
) -> None:
    """Apply `tags` to the resources (an image and its snapshots) in `region`."""
    if not resource_ids:
        return
    with calling("ec2", "CreateTags", region, ", ".join(resource_ids)):
        gateway.client("ec2", region).create_tags(
            Resources=list(resource_ids),
            Tags=[{"Key": key, "Value": value} for key, value in tags.items()],
        )


def wait_available(gateway: Gateway, region: str, ami_id: str, timeout: float = 1800) -> Image:
    """Wait until the image is available; a failed or vanished image is an AwsError."""
    from tenacity import retry, retry_if_result, stop_after_delay, wait_exponential

    def state() -> Image | None:
        image = describe_image(gateway, region, ami_id)
        if image is None:
            raise AwsError(f"ec2 DescribeImages in {region} for {ami_id}: the image disappeared")
        if image["State"] in ("failed", "error", "invalid", "deregistered"):
            reason = image.get("StateReason", {}).get("Message", image["State"])
            raise AwsError(f"image {ami_id} in {region} is {image['State']}: {reason}")
        return image if image["State"] == "available" else None

    poll = retry(
        retry=retry_if_result(lambda result: result is None),
        wait=wait_exponential(multiplier=0.5, max=15),
        stop=stop_after_delay(timeout),
        retry_error_callback=lambda _: None,
    )(state)
    image = poll()
    if image is None:
        raise AwsError(f"image {ami_id} in {region} is not available after {timeout:.0f}s")
    return image


def _code(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""
