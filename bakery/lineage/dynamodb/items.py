"""DynamoDB items of the lineage table: keys, the attribute codec, records to items and back."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, fields
from typing import Any

from bakery.aws.facts import SourceInfo
from bakery.lineage.records import BuildRecord, RegionImage, Status, artifacts_of

Item = dict[str, dict[str, Any]]  # attribute name -> DynamoDB attribute value ({"S": ...})

BUILD_SK = "BUILD"
# Everything a build item collection holds sorts as BUILD < IMAGE#... < SHARE#... < TEST#...,
# so SK BETWEEN BUILD_SK AND IMAGES_END reads a build with its images and nothing else.
IMAGES_END = "IMAGE$"  # "$" sorts after "#"
_PLAIN = tuple(
    f.name
    for f in fields(BuildRecord)
    if f.name not in ("status", "source", "images", "pid", "parameters", "artifacts")
)
_SOURCE = ("kind", "reference", "resolved_ami", "ssm_version", "owner")


def encode(value: object) -> dict[str, Any]:
    """Return the DynamoDB attribute value of a plain Python value."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": repr(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, list | tuple):
        return {"L": [encode(v) for v in value]}
    if isinstance(value, Mapping):
        return {"M": {str(k): encode(v) for k, v in value.items()}}
    raise TypeError(f"cannot store {type(value).__name__} in DynamoDB")


def decode(value: Mapping[str, Any]) -> Any:
    """Return the plain Python value of a DynamoDB attribute value."""
    (kind, data), *_ = value.items()
    if kind == "N":
        text = str(data)
        return float(text) if any(c in text for c in ".eE") else int(text)
    if kind == "L":
        return [decode(v) for v in data]
    if kind == "M":
        return {k: decode(v) for k, v in data.items()}
    return None if kind == "NULL" else data


def item(**values: object) -> Item:
    """Return an item of the given attributes, leaving out those that are None."""
    return {name: encode(value) for name, value in values.items() if value is not None}


def plain(found: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Return the attributes of an item as plain Python values."""
    return {name: decode(value) for name, value in found.items()}


def key(pk: str, sk: str) -> Item:
    return {"PK": {"S": pk}, "SK": {"S": sk}}


def build_pk(build_id: str) -> str:
    return f"BUILD#{build_id}"


def build_key(build_id: str) -> Item:
    return key(build_pk(build_id), BUILD_SK)


def image_key(build_id: str, region: str) -> Item:
    return key(build_pk(build_id), f"IMAGE#{region}")


def ami_key(ami_id: str, build_id: str, region: str) -> Item:
    return key(f"AMI#{ami_id}", f"{build_id}#{region}")


def lease_key(recipe: str) -> Item:
    return key(f"LEASE#{recipe}", "LEASE")


def _indexes(sort: str, recipe: str, parent: str | None) -> dict[str, object]:
    return {
        "GSI1PK": f"RECIPE#{recipe}",
        "GSI1SK": sort,
        "GSI2PK": None if parent is None else f"PARENT#{parent}",
        "GSI2SK": None if parent is None else sort,
    }


def build_item(record: BuildRecord) -> Item:
    """Return the build item of a record (its images are items of their own)."""
    source = record.source
    return item(
        PK=build_pk(record.build_id),
        SK=BUILD_SK,
        **_indexes(record.build_id, record.recipe, record.parent_build_id),
        GSI3PK=f"STATUS#{record.status.value}",
        GSI3SK=record.build_id,
        **{name: getattr(record, name) for name in _PLAIN},
        status=record.status.value,
        pid=record.pid,
        **{f"source_{name}": getattr(source, name) for name in _SOURCE},
        source_product_codes=list(source.product_codes),
        # A map of name -> value, left out when a build used none (items stay small).
        parameters=dict(record.parameters) or None,
        # A list of maps {name, sha256, size}, left out when a build downloaded nothing (its
        # size bounded by bakery.lineage.artifacts: MAX_ARTIFACTS, MAX_NAME_BYTES).
        artifacts=[asdict(artifact) for artifact in record.artifacts] or None,
    )


def image_item(record: BuildRecord | Mapping[str, Any], image: RegionImage, pos: int) -> Item:
    """Return the item of one image of a build (a record, or its build item as plain values)."""
    if isinstance(record, BuildRecord):
        build_id, recipe, parent = record.build_id, record.recipe, record.parent_build_id
    else:
        build_id, recipe, parent = (
            record["build_id"],
            record["recipe"],
            record.get("parent_build_id"),
        )
    return item(
        PK=build_pk(build_id),
        SK=f"IMAGE#{image.region}",
        **_indexes(f"{build_id}#IMAGE#{image.region}", recipe, parent),
        build_id=build_id,
        region=image.region,
        ami_id=image.ami_id,
        snapshot_ids=list(image.snapshot_ids),
        removed_at=image.removed_at,
        pos=pos,
    )


def ami_item(build_id: str, image: RegionImage) -> Item:
    """Return the item that finds a build by one of its AMIs (read with strong consistency)."""
    found = ami_key(image.ami_id, build_id, image.region)
    return found | item(build_id=build_id, region=image.region, ami_id=image.ami_id)


def region_image(values: Mapping[str, Any]) -> RegionImage:
    return RegionImage(
        values["region"],
        values["ami_id"],
        tuple(values.get("snapshot_ids", ())),
        values.get("removed_at"),
    )


def build_record(values: Mapping[str, Any], images: Iterable[Mapping[str, Any]]) -> BuildRecord:
    """Return the record of a build item (plain values) and its image items, in their order."""
    ordered = sorted(images, key=lambda i: (int(i.get("pos", 0)), str(i["region"])))
    pid, ssm_version = values.get("pid"), values.get("source_ssm_version")
    fields: dict[str, Any] = {name: values.get(name) for name in _PLAIN}
    return BuildRecord(
        **fields,
        status=Status(values["status"]),
        pid=None if pid is None else int(pid),
        source=SourceInfo(
            kind=values["source_kind"],
            reference=values["source_reference"],
            resolved_ami=values["source_resolved_ami"],
            ssm_version=None if ssm_version is None else int(ssm_version),
            owner=values.get("source_owner"),
            product_codes=tuple(values.get("source_product_codes", ())),
        ),
        images=tuple(region_image(i) for i in ordered),
        parameters=tuple(
            sorted((str(k), str(v)) for k, v in (values.get("parameters") or {}).items())
        ),
        artifacts=artifacts_of(values.get("artifacts") or ()),
    )


def assemble(items: Iterable[Mapping[str, Mapping[str, Any]]]) -> list[BuildRecord]:
    """Return the records of build and image items read in any order, newest first."""
    builds: dict[str, dict[str, Any]] = {}
    images: dict[str, list[dict[str, Any]]] = {}
    for found in items:
        values = plain(found)
        if values["SK"] == BUILD_SK:
            builds[values["build_id"]] = values
        elif str(values["SK"]).startswith("IMAGE#"):
            images.setdefault(values["build_id"], []).append(values)
    return [
        build_record(builds[build_id], images.get(build_id, ()))
        for build_id in sorted(builds, reverse=True)
    ]


def stream(items: Iterable[Mapping[str, Mapping[str, Any]]]) -> Iterator[BuildRecord]:
    """Yield the records of build and image items read newest first from GSI1 or GSI2.

    There an image (`<id>#IMAGE#<region>`) sorts after its build (`<id>`), so it comes first.
    """
    images: dict[str, list[dict[str, Any]]] = {}
    for found in items:
        values = plain(found)
        if values["SK"] == BUILD_SK:
            yield build_record(values, images.pop(values["build_id"], ()))
        elif str(values["SK"]).startswith("IMAGE#"):
            images.setdefault(values["build_id"], []).append(values)


def numbered(images: Sequence[RegionImage]) -> list[tuple[RegionImage, int]]:
    """Number images in order, the last image of a region replacing an earlier one in place."""
    places: dict[str, tuple[RegionImage, int]] = {}
    for image in images:
        pos = places[image.region][1] if image.region in places else len(places)
        places[image.region] = (image, pos)
    return list(places.values())


def image_ops(
    owner: BuildRecord | Mapping[str, Any],
    new: Sequence[tuple[RegionImage, int]],
    old: Sequence[Mapping[str, Any]],
    *,
    replace: bool = True,
) -> list[dict[str, Any]]:
    """Return the transaction writes that store `new` images (with `replace`: only those)."""
    build_id = owner.build_id if isinstance(owner, BuildRecord) else str(owner["build_id"])
    before = {str(i["region"]): str(i["ami_id"]) for i in old}
    ops: list[dict[str, Any]] = []
    for image, pos in new:
        ops.append({"Put": {"Item": image_item(owner, image, pos)}})
        ops.append({"Put": {"Item": ami_item(build_id, image)}})
        if before.get(image.region, image.ami_id) != image.ami_id:
            ops.append({"Delete": {"Key": ami_key(before[image.region], build_id, image.region)}})
    kept = {image.region for image, _ in new}
    for region, ami_id in before.items():
        if replace and region not in kept:
            ops.append({"Delete": {"Key": image_key(build_id, region)}})
            ops.append({"Delete": {"Key": ami_key(ami_id, build_id, region)}})
    return ops
