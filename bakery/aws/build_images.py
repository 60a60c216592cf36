"""What a bake asks of AWS about images, behind one small interface that tests can fake."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from bakery.aws.facts import SourceInfo
from bakery.aws.images import (
    describe_image,
    find_images,
    snapshot_ids,
    tag_resources,
    tags_of,
    wait_available,
)
from bakery.aws.session import Gateway
from bakery.aws.sources import resolve_external
from bakery.config.recipe import Source
from bakery.config.tags import REVOKED_TAG

INPUT_HASH_TAG = "bakery:input-hash"


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

    def settle(self, region: str, ami_id: str, tags: Mapping[str, str]) -> tuple[str, ...]:
        image = wait_available(self.gateway, region, ami_id)
        snapshots = snapshot_ids(image)
        tag_resources(self.gateway, region, [ami_id, *snapshots], tags)
        return snapshots
