"""Rebuild the lineage store from AWS alone: the `bakery:` tags of managed images."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bakery.aws.facts import SourceInfo
from bakery.aws.images import Image, find_images, snapshot_ids, tags_of
from bakery.aws.session import Gateway
from bakery.config.tags import MANAGED_TAG, PARAMETERS_TAG
from bakery.lineage.records import BuildRecord, RegionImage, Status
from bakery.lineage.store import LineageStore


@dataclass(frozen=True)
class ImportReport:
    builds: int
    images: int
    linked: int
    skipped: tuple[str, ...]  # images whose tags are incomplete


def import_from_aws(
    gateway: Gateway, store: LineageStore, regions: Iterable[str], build_region: str
) -> ImportReport:
    """Recreate a record per build id found on managed images, with parent links."""
    found: dict[str, list[tuple[str, Image]]] = {}
    skipped: list[str] = []
    image_count = 0
    for region in sorted(set(regions)):
        for image in find_images(gateway, region, {MANAGED_TAG: "true"}):
            build_id = tags_of(image).get("bakery:build-id")
            if not build_id or not tags_of(image).get("bakery:recipe"):
                skipped.append(f"{region}:{image['ImageId']}")
                continue
            found.setdefault(build_id, []).append((region, image))
            image_count += 1
    records = [_record(build_id, images, build_region) for build_id, images in found.items()]
    build_of_ami = {image.ami_id: record.build_id for record in records for image in record.images}
    linked = 0
    for record in records:
        parent = build_of_ami.get(record.source.resolved_ami)
        if parent is not None and parent != record.build_id:
            record = _with_parent(record, parent)
            linked += 1
        store.put(record)
    return ImportReport(len(records), image_count, linked, tuple(skipped))


def record_from_tags(image: Image, region: str) -> BuildRecord | None:
    """The succeeded build an image's `bakery:` tags describe (None when they are incomplete)."""
    tags = tags_of(image)
    build_id = tags.get("bakery:build-id")
    if not build_id or not tags.get("bakery:recipe"):
        return None
    return _record(build_id, [(region, image)], region)


def _record(build_id: str, images: list[tuple[str, Image]], build_region: str) -> BuildRecord:
    regions = dict(images)
    home = build_region if build_region in regions else sorted(regions)[0]
    tags = tags_of(regions[home])
    kind, _, reference = tags.get("bakery:source", "").partition(":")
    if tags.get("bakery:parent-recipe"):
        kind, reference = "recipe", tags["bakery:parent-recipe"]
    return BuildRecord(
        build_id=build_id,
        recipe=tags["bakery:recipe"],
        version=tags.get("bakery:version", "0.0.0"),
        layer=tags.get("bakery:layer", "app"),
        status=Status.SUCCEEDED,
        started_at=tags.get("bakery:build-date") or str(regions[home].get("CreationDate", "")),
        ended_at=regions[home].get("CreationDate"),
        input_hash=tags.get("bakery:input-hash", ""),
        source=SourceInfo(kind or "unknown", reference, tags.get("bakery:source-ami", "")),
        region=home,
        git_commit=None
        if tags.get("bakery:git-commit") in (None, "unknown")
        else tags["bakery:git-commit"],
        images=tuple(
            RegionImage(region, image["ImageId"], snapshot_ids(image))
            for region, image in sorted(regions.items())
        ),
        revoked="bakery:revoked" in tags,
        revoked_reason=tags.get("bakery:revoked"),
        parameters=parameters_of(tags.get(PARAMETERS_TAG, "")),
    )


def parameters_of(value: str) -> tuple[tuple[str, str], ...]:
    """The parameters a `bakery:parameters` tag holds (`name=value,name2=value2`), sorted by
    name; a part without a name or with more or fewer than one `=` is skipped."""
    found: dict[str, str] = {}
    for part in value.split(","):
        name, equals, text = part.partition("=")
        name = name.strip()
        if equals and name and "=" not in text:
            found[name] = text
    return tuple(sorted(found.items()))


def _with_parent(record: BuildRecord, parent: str) -> BuildRecord:
    from dataclasses import replace

    return replace(record, parent_build_id=parent)
