"""Build records as the bake writes them, for store, query and lifecycle tests."""

from __future__ import annotations

from dataclasses import replace

from bakery.aws.facts import SourceInfo
from bakery.lineage.records import BuildRecord, RegionImage, Status, new_build_id

T0 = 1_700_000_000.0


def make_record(
    recipe: str = "web", at: float = T0, parent: str | None = None, **changes: object
) -> BuildRecord:
    record = BuildRecord(
        build_id=new_build_id(at),
        recipe=recipe,
        version="2.3.0",
        layer="app",
        status=Status.RUNNING,
        started_at="2024-01-01T10:00:00+00:00",
        input_hash="ab" * 32,
        source=SourceInfo(kind="recipe", reference="base", resolved_ami="ami-base"),
        region="us-east-1",
        parent_build_id=parent,
    )
    return replace(record, **changes)  # type: ignore[arg-type]


def succeeded(record: BuildRecord, *images: RegionImage) -> BuildRecord:
    return record.finished(Status.SUCCEEDED, "2024-01-01T10:05:00+00:00", images=images)


def east(ami: str) -> RegionImage:
    return RegionImage("us-east-1", ami, (f"snap-{ami}",))
