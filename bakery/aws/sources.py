"""Resolve a recipe's external source (SSM parameter, AMI id, filter) to an AMI, and trust it."""

from __future__ import annotations

from collections.abc import Sequence

from bakery.aws.facts import SourceInfo
from bakery.aws.images import Image, describe_image, find_images
from bakery.aws.session import AwsError, Gateway, calling
from bakery.config.recipe import Source
from bakery.errors import BakeryError


class UntrustedSourceError(BakeryError):
    """The source image belongs to an account outside trusted_owners."""


def resolve_external(
    gateway: Gateway, source: Source, region: str, trusted_owners: Sequence[str]
) -> SourceInfo:
    """Look up the AMI an external source names now, check it is available and trusted."""
    version: int | None = None
    if source.kind == "ssm_parameter":
        with calling("ssm", "GetParameter", region, source.value):
            parameter = gateway.client("ssm", region).get_parameter(Name=source.value)["Parameter"]
        ami_id, version = str(parameter["Value"]), int(parameter["Version"])
        image = _existing(gateway, region, ami_id, f"SSM parameter {source.value}")
    elif source.kind == "ami":
        image = _existing(gateway, region, source.value, "source.ami")
    elif source.kind == "filter":
        matches = find_images(
            gateway,
            region,
            owners=source.owners,
            name=source.value,
            extra_filters=filter_of(source),
            include_deprecated=source.include_deprecated,
        )
        if not matches:
            raise BakeryError(
                f"source filter {source.value} (owners {', '.join(source.owners)}) matches no "
                f"available image in {region}; check the name pattern and owners"
            )
        image = matches[0]
    else:
        raise ValueError(f"not an external source: {source.kind}")
    owner = check_trusted(gateway, image, trusted_owners)
    return SourceInfo(
        kind=source.kind,
        reference=source.value,
        resolved_ami=image["ImageId"],
        ssm_version=version,
        owner=owner,
        product_codes=tuple(code["ProductCodeId"] for code in image.get("ProductCodes", [])),
    )


def filter_of(source: Source) -> list[dict[str, object]]:
    """The DescribeImages filters of a filter source besides its owners and name."""
    filters: list[dict[str, object]] = []
    if source.architecture:
        filters.append({"Name": "architecture", "Values": [source.architecture]})
    filters += [{"Name": key, "Values": [value]} for key, value in sorted(source.filters.items())]
    return filters


def _existing(gateway: Gateway, region: str, ami_id: str, what: str) -> Image:
    image = describe_image(gateway, region, ami_id)
    if image is None:
        raise BakeryError(f"{what}: image {ami_id} does not exist in {region}")
    if image.get("State") != "available":
        raise BakeryError(
            f"{what}: image {ami_id} in {region} is {image.get('State')}, not available"
        )
    return image


def check_trusted(gateway: Gateway, image: Image, trusted_owners: Sequence[str]) -> str:
    """Return the image's owner when trusted_owners allows it; raise otherwise."""
    owner = str(image.get("OwnerId", ""))
    alias = image.get("ImageOwnerAlias")
    if owner in trusted_owners or (alias and alias in trusted_owners):
        return owner
    if "self" in trusted_owners:
        try:
            if owner == gateway.account_id():
                return owner
        except AwsError:
            pass
    raise UntrustedSourceError(
        f"source image {image['ImageId']} belongs to account {owner}"
        f"{f' ({alias})' if alias else ''}, which is not in trusted_owners of bakery.yaml; "
        "add it there if you trust its images"
    )
