"""What a bake asks of AWS about images, behind one small interface that tests can fake."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bakery.aws.channels import deprecate
from bakery.aws.distribution import share_image
from bakery.aws.facts import SourceInfo
from bakery.aws.images import (
    describe_image,
    find_images,
    snapshot_ids,
    tag_resources,
    tags_of,
    wait_available,
)
from bakery.aws.session import Gateway, calling
from bakery.aws.sources import resolve_external
from bakery.config.recipe import Source
from bakery.config.tags import REVOKED_TAG

INPUT_HASH_TAG = "bakery:input-hash"


@dataclass(frozen=True)
class ImageSettings:
    """What bakery sets on a finished image itself when Packer could not (Packer 1.6)."""

    imds_v2: bool = False  # ImdsSupport v2.0: instances launched from it require IMDSv2
    deprecate_at: datetime | None = None
    share_with: tuple[str, ...] = ()  # organization and organizational unit ARNs

    @property
    def empty(self) -> bool:
        return not (self.imds_v2 or self.deprecate_at or self.share_with)


class BuildImages(Protocol):
    def resolve(self, source: Source, region: str, trusted_owners: Sequence[str]) -> SourceInfo:
        """Resolve an external source to an available, trusted AMI."""
        ...

    def with_input_hash(self, recipe: str, region: str, input_hash: str) -> str | None:
        """Return the newest available, not revoked image of `recipe` with `input_hash`."""
        ...

    def of_build(self, region: str, build_id: str) -> list[str]:
        """Return the images Packer tagged with `build_id` (an interrupted build's, say)."""
        ...

    def complete(self, region: str, ami_id: str, input_hash: str) -> tuple[str, ...] | None:
        """Return the snapshots of an available image tagged with `input_hash`, else None.

        Packer tags an image last, after its copies: such an image is finished.
        """
        ...

    def name_of(self, region: str, ami_id: str) -> str | None:
        """Return the name of an image (a source's, for ((source_ami_name))), None if gone."""
        ...

    def settle(self, region: str, ami_id: str, tags: Mapping[str, str]) -> tuple[str, ...]:
        """Wait for the image to be available, tag it and its snapshots; return snapshot ids."""
        ...

    def boot_of(self, region: str, ami_id: str) -> tuple[str | None, str | None]:
        """Return an image's boot mode and TPM support as EC2 reports them (None: unset)."""
        ...

    def apply(self, region: str, ami_id: str, settings: ImageSettings) -> list[str]:
        """Set what `settings` says on an image (each call safe to repeat); return notes on
        what the endpoint could not do."""
        ...


class AwsBuildImages:
    """BuildImages over the AWS gateway."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def resolve(self, source: Source, region: str, trusted_owners: Sequence[str]) -> SourceInfo:
        return resolve_external(self.gateway, source, region, trusted_owners)

    def with_input_hash(self, recipe: str, region: str, input_hash: str) -> str | None:
        found = find_images(
            self.gateway, region, {INPUT_HASH_TAG: input_hash, "bakery:recipe": recipe}
        )
        usable = [image for image in found if REVOKED_TAG not in tags_of(image)]
        return str(usable[0]["ImageId"]) if usable else None

    def of_build(self, region: str, build_id: str) -> list[str]:
        found = find_images(self.gateway, region, {"bakery:build-id": build_id})
        return sorted(str(image["ImageId"]) for image in found)

    def complete(self, region: str, ami_id: str, input_hash: str) -> tuple[str, ...] | None:
        image = describe_image(self.gateway, region, ami_id)
        if image is None or image.get("State") != "available":
            return None
        return snapshot_ids(image) if tags_of(image).get(INPUT_HASH_TAG) == input_hash else None

    def name_of(self, region: str, ami_id: str) -> str | None:
        image = describe_image(self.gateway, region, ami_id)
        return None if image is None else str(image.get("Name", "")) or None

    def boot_of(self, region: str, ami_id: str) -> tuple[str | None, str | None]:
        image = describe_image(self.gateway, region, ami_id)
        if image is None:
            return None, None
        return image.get("BootMode"), image.get("TpmSupport")

    def apply(self, region: str, ami_id: str, settings: ImageSettings) -> list[str]:
        notes: list[str] = []
        ec2 = self.gateway.client("ec2", region)
        if settings.imds_v2:
            with calling("ec2", "ModifyImageAttribute", region, ami_id):
                ec2.modify_image_attribute(ImageId=ami_id, ImdsSupport={"Value": "v2.0"})
        if settings.deprecate_at is not None:
            note = deprecate(self.gateway, region, ami_id, settings.deprecate_at)
            if note:
                notes.append(f"{note}; {ami_id} is not deprecated")
        if settings.share_with:
            share_image(self.gateway, region, ami_id, settings.share_with)
        return notes

    def settle(self, region: str, ami_id: str, tags: Mapping[str, str]) -> tuple[str, ...]:
        image = wait_available(self.gateway, region, ami_id)
        snapshots = snapshot_ids(image)
        tag_resources(self.gateway, region, [ami_id, *snapshots], tags)
        return snapshots
