"""An in-memory BuildImages for scheduling tests and benchmarks (no AWS at all)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bakery.aws.build_images import ImageSettings
from bakery.aws.facts import SourceInfo
from bakery.config.recipe import Source

BASE_AMI = "ami-0000000000000base0"


class FakeBuildImages:
    """Every external source resolves to one base AMI; settled images keep their tags."""

    def __init__(self, base_ami: str = BASE_AMI) -> None:
        self.base_ami = base_ami
        self.tags: dict[tuple[str, str], dict[str, str]] = {}
        self.applied: list[tuple[str, str, ImageSettings]] = []

    def resolve(self, source: Source, region: str, trusted_owners: Sequence[str]) -> SourceInfo:
        return SourceInfo(source.kind, source.value, self.base_ami)

    def with_input_hash(self, recipe: str, region: str, input_hash: str) -> str | None:
        for (where, ami), tags in sorted(self.tags.items(), reverse=True):
            if (
                where == region
                and tags.get("bakery:recipe") == recipe
                and tags.get("bakery:input-hash") == input_hash
            ):
                return ami
        return None

    def of_build(self, region: str, build_id: str) -> list[str]:
        return sorted(
            ami
            for (where, ami), tags in self.tags.items()
            if where == region and tags.get("bakery:build-id") == build_id
        )

    def boot_of(self, region: str, ami_id: str) -> tuple[str | None, str | None]:
        return "uefi", "v2.0"

    def apply(self, region: str, ami_id: str, settings: ImageSettings) -> list[str]:
        self.applied.append((region, ami_id, settings))
        return []

    def name_of(self, region: str, ami_id: str) -> str | None:
        return f"image-of-{ami_id}"

    def complete(self, region: str, ami_id: str, input_hash: str) -> tuple[str, ...] | None:
        tags = self.tags.get((region, ami_id), {})
        return (f"snap-{ami_id[4:]}",) if tags.get("bakery:input-hash") == input_hash else None

    def settle(self, region: str, ami_id: str, tags: Mapping[str, str]) -> tuple[str, ...]:
        self.tags[(region, ami_id)] = dict(tags)
        return (f"snap-{ami_id[4:]}",)
