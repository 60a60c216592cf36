"""Questions about lineage asked of a store: ancestry, descendants, references, views, history."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from bakery.aws.facts import SourceInfo
from bakery.errors import BakeryError
from bakery.lineage.records import BuildRecord, Status, dated_ahead
from bakery.lineage.store import LineageStore
from bakery.ui.diagram import draw

_ULID_CHARS = frozenset("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
HASH_PREFIX = 12


def ancestry(store: LineageStore, record: BuildRecord) -> list[BuildRecord]:
    """Return the parent builds of a record, nearest first, up to the first without a parent."""
    chain: list[BuildRecord] = []
    seen = {record.build_id}
    parent_id = record.parent_build_id
    while parent_id is not None and parent_id not in seen:
        parent = store.get(parent_id)
        if parent is None:
            break
        chain.append(parent)
        seen.add(parent_id)
        parent_id = parent.parent_build_id
    return chain


def descendants(store: LineageStore, record: BuildRecord) -> list[BuildRecord]:
    """Return every build made from a record's images, breadth first."""
    found: list[BuildRecord] = []
    seen = {record.build_id}
    queue = [record]
    while queue:
        for child in store.children(queue.pop(0).build_id):
            if child.build_id not in seen:
                seen.add(child.build_id)
                found.append(child)
                queue.append(child)
    return found


def is_build_id(ref: str) -> bool:
    """Tell whether `ref` has the shape of a build id (a 26-character ULID)."""
    return len(ref) == 26 and set(ref.upper()) <= _ULID_CHARS


def resolve_ref(
    store: LineageStore, ref: str, note: Callable[[str], None] | None = None
) -> BuildRecord:
    """Return the build a reference names: a build id, an AMI id, or a recipe's newest success.

    Build ids sort by their runner's clock, so a build dated in the future (its runner's clock
    was ahead) is not taken as a recipe's newest while another exists; `note` is told.
    """
    found: BuildRecord | None = None
    if is_build_id(ref):
        found = store.get(ref.upper())
    elif ref.startswith("ami-"):
        found = store.find_by_ami(ref)
    if found is None and not ref.startswith("ami-"):
        found = newest_of(store.builds(recipe=ref, status=Status.SUCCEEDED), note)
    if found is None:
        raise BakeryError(
            f"no build found for {ref}; give a build id (26 characters), an AMI id (ami-...) "
            "or the name of a recipe with a succeeded build (see `bakery history NAME`)"
        )
    return found


def newest_of(
    records: Sequence[BuildRecord], note: Callable[[str], None] | None = None
) -> BuildRecord | None:
    """The first of `records` (newest first) not dated in the future, else the first."""
    ahead = [record for record in records if dated_ahead(record)]
    chosen = next((record for record in records if record not in ahead), None)
    if chosen is None:
        return records[0] if records else None
    for record in ahead:
        if note is not None and record.build_id > chosen.build_id:
            note(
                f"build {record.build_id} of {record.recipe} is dated {record.started_at}, in "
                "the future (its runner's clock was ahead): it is not taken as the newest; "
                "name its build id to use it"
            )
    return chosen


def build_label(record: BuildRecord) -> str:
    """Return a one-line label: recipe, version, build id, images and status."""
    images = (
        ", ".join(
            f"{i.ami_id} ({i.region}{', pruned' if i.removed_at else ''})" for i in record.images
        )
        or "no image"
    )
    revoked = " revoked" if record.revoked else ""
    return f"{record.recipe} {record.version} {record.build_id} {images} {record.status}{revoked}"


def _source_data(source: SourceInfo) -> dict[str, Any]:
    return {
        "kind": source.kind,
        "reference": source.reference,
        "resolved_ami": source.resolved_ami,
        "ssm_version": source.ssm_version,
        "owner": source.owner,
        "product_codes": list(source.product_codes),
    }


def artifacts_data(record: BuildRecord) -> list[dict[str, Any]]:
    """Return the files a build downloaded as JSON-ready values: name, sha256, size."""
    return [asdict(artifact) for artifact in record.artifacts]


def build_data(record: BuildRecord) -> dict[str, Any]:
    """Return the JSON-ready facts about a build that views show."""
    return {
        "build_id": record.build_id,
        "recipe": record.recipe,
        "version": record.version,
        "layer": record.layer,
        "status": record.status.value,
        "revoked": record.revoked,
        "started_at": record.started_at,
        "ended_at": record.ended_at,
        "parent_build_id": record.parent_build_id,
        "source": _source_data(record.source),
        "parameters": dict(record.parameters),
        "artifacts": artifacts_data(record),
        "images": [
            {
                "region": i.region,
                "ami_id": i.ami_id,
                "snapshot_ids": list(i.snapshot_ids),
                "removed_at": i.removed_at,
            }
            for i in record.images
        ],
    }


def lineage_view(store: LineageStore, record: BuildRecord, fmt: str) -> str:
    """Draw a build's line from its external base, through its ancestors, to all descendants."""
    chain = [*reversed(ancestry(store, record)), record]
    base = chain[0].source
    root = f"source:{base.resolved_ami}"
    parents: dict[str, str | None] = {root: None}
    version = "" if base.ssm_version is None else f" (version {base.ssm_version})"
    labels = {root: f"{base.resolved_ami} from {base.kind} {base.reference}{version}"}
    details: dict[str, dict[str, Any]] = {root: {"build_id": None, "source": _source_data(base)}}
    previous = root
    for build in chain:
        parents[build.build_id] = previous
        previous = build.build_id
    for build in [*chain, *descendants(store, record)]:
        parents.setdefault(build.build_id, build.parent_build_id)
        labels[build.build_id] = build_label(build)
        details[build.build_id] = build_data(build)
    if fmt != "json":
        return draw(fmt, parents, labels)
    # Each node carries its facts beside the name, parent and label that draw() gives every graph.
    document = json.loads(draw(fmt, parents, labels, {"selected": record.build_id}))
    for node in document["nodes"]:
        node.update(details[node["name"]])
    return json.dumps(document, indent=2)


def duration_seconds(record: BuildRecord) -> float | None:
    """Return how long a finished build took, in seconds; None while it runs, and for an
    interrupted build, whose end is when a later run found its process gone, not known."""
    if record.ended_at is None or record.status in (Status.INTERRUPTED, Status.ABANDONED):
        return None
    started = datetime.fromisoformat(record.started_at)
    return (datetime.fromisoformat(record.ended_at) - started).total_seconds()


def history_rows(store: LineageStore, recipe: str) -> list[dict[str, Any]]:
    """Return one row per build of a recipe, newest first, for `bakery history NAME`."""
    return [
        {
            "build_id": record.build_id,
            "version": record.version,
            "status": record.status.value,
            "revoked": record.revoked,
            "started_at": record.started_at,
            "duration_s": duration_seconds(record),
            "amis": {image.region: image.ami_id for image in record.images},
            "input_hash": record.input_hash[:HASH_PREFIX],
            "parameters": dict(record.parameters),
            "artifacts": artifacts_data(record),
        }
        for record in store.builds(recipe=recipe)
    ]
