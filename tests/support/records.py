"""Build records shaped like the ones a bake writes, for every test and benchmark that needs one.

`make_record` returns what `bakery.bake.build_one.build_recipe` stores before Packer starts: a
running build with a ULID build id and an ISO 8601 UTC start time taken from the same moment, the
input hash of a content digest and the resolved source AMI, and the Packer, git, template, log,
process and host facts a build records. `succeeded` and `failed` finish it as `build_recipe`
does. Every field can be changed with a keyword argument (`dataclasses.replace`).

The `*_source` helpers make the `SourceInfo` each kind of source resolves to; `region_image` and
`east` make the image of a build in one region.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bakery.aws.facts import SourceInfo
from bakery.lineage.records import BuildRecord, RegionImage, Status, iso_utc, new_build_id
from bakery.render.input_hash import input_hash, sha256_hex

T0 = datetime(2024, 1, 1, 10, 0, tzinfo=UTC).timestamp()  # 2024-01-01T10:00:00Z
REGION = "us-east-1"
AL2023 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
AMAZON = "137112412989"  # the account that owns the Amazon Linux images
BASE_AMI = "ami-0b5eea76982371e91"  # what the default source (recipe base) resolved to
DIGEST = sha256_hex(b"the content digest of a rendered recipe")  # as render() reports it
TEMPLATE_SHA256 = sha256_hex(b"the rendered amazon-ebs template")
GIT_COMMIT = hashlib.sha1(b"the commit the project was built from").hexdigest()
PACKER_VERSION = "1.11.2"
PID = 4242
# Not this machine: the bake's interrupted-build check leaves builds of other hosts alone.
HOST = "builder-1.example.internal"


def moment(at: float) -> str:
    """Write epoch seconds the way records store time: ISO 8601 UTC, e.g. 2024-01-01T10:00:00Z."""
    return iso_utc(datetime.fromtimestamp(at, UTC))


def later(stamp: str, seconds: float) -> str:
    """Return the record time `seconds` after `stamp` (read as UTC when it names no zone)."""
    start = datetime.fromisoformat(stamp)
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    return iso_utc(start + timedelta(seconds=seconds))


def ssm_source(
    ami: str,
    parameter: str = AL2023,
    *,
    version: int = 1,
    owner: str = AMAZON,
    product_codes: tuple[str, ...] = (),
) -> SourceInfo:
    """Return what an `ssm_parameter` source resolves to: the parameter's AMI and version."""
    return SourceInfo("ssm_parameter", parameter, ami, version, owner, product_codes)


def ami_source(ami: str, *, owner: str = AMAZON, product_codes: tuple[str, ...] = ()) -> SourceInfo:
    """Return what an `ami` source resolves to: that very AMI."""
    return SourceInfo("ami", ami, ami, None, owner, product_codes)


def filter_source(pattern: str, ami: str, *, owner: str = AMAZON) -> SourceInfo:
    """Return what a `filter` source resolves to: the newest image whose name matches."""
    return SourceInfo("filter", pattern, ami, None, owner)


def recipe_source(
    parent: BuildRecord | str, ami: str | None = None, region: str = REGION
) -> SourceInfo:
    """Return what a `recipe` source resolves to: the parent's image (in `region`, of a record)."""
    if isinstance(parent, str):
        return SourceInfo("recipe", parent, ami or BASE_AMI)
    image = parent.image_in(region) or (parent.images[0] if parent.images else None)
    resolved = ami or (image.ami_id if image else BASE_AMI)
    return SourceInfo("recipe", parent.recipe, resolved)


def make_record(
    recipe: str = "web",
    at: float = T0,
    parent: str | BuildRecord | None = None,
    *,
    digest: str = DIGEST,
    **changes: Any,
) -> BuildRecord:
    """Return a running build of `recipe` started at `at` (epoch seconds), as a bake records it.

    `parent` is the parent's build id, or its record: then the source is the parent's image and
    the parent build id is the parent's. The input hash is that of `digest` and the resolved
    source AMI, unless `input_hash` is given; any other field is set by keyword.
    """
    build_id = str(changes.pop("build_id", None) or new_build_id(at))
    region = str(changes.get("region", REGION))
    parent_id = parent.build_id if isinstance(parent, BuildRecord) else parent
    # Built on the parent's image; given only a build id (or none), on a recipe named base.
    built_on = recipe_source(parent if isinstance(parent, BuildRecord) else "base", None, region)
    source: SourceInfo = changes.pop("source", built_on)
    record = BuildRecord(
        build_id=build_id,
        recipe=recipe,
        version="2.3.0",
        layer="app",
        status=Status.RUNNING,
        started_at=moment(at),
        input_hash=input_hash(digest, source.resolved_ami),
        source=source,
        region=region,
        parent_build_id=parent_id,
        packer_version=PACKER_VERSION,
        git_commit=GIT_COMMIT,
        git_dirty=False,
        template_sha256=TEMPLATE_SHA256,
        log_path=f".bakery/logs/{build_id}.log",
        pid=PID,
        host=HOST,
    )
    return replace(record, **changes)


def live(record: BuildRecord) -> BuildRecord:
    """A running record as a live bakery leaves it: its process (this one) is on this host,
    and started before the build did."""
    import os
    import socket
    from datetime import datetime

    import psutil

    began = psutil.Process().create_time() + 1
    at = max(datetime.fromisoformat(record.started_at).timestamp(), began)
    return replace(record, host=socket.gethostname(), pid=os.getpid(), started_at=moment(at))


def succeeded(record: BuildRecord, *images: RegionImage, after: float = 300) -> BuildRecord:
    """Return `record` succeeded `after` seconds after it started, with `images`."""
    return record.finished(Status.SUCCEEDED, later(record.started_at, after), images=images)


def failed(
    record: BuildRecord,
    *images: RegionImage,
    error: str = "packer build exited 1",
    after: float = 60,
) -> BuildRecord:
    """Return `record` failed `after` seconds after it started, keeping any `images` it made."""
    return record.finished(
        Status.FAILED, later(record.started_at, after), error=error, images=images
    )


def region_image(region: str, ami: str, *snapshots: str) -> RegionImage:
    """Return a build's image in `region`; its snapshot is `snap-AMI` unless others are given."""
    return RegionImage(region, ami, snapshots or (f"snap-{ami}",))


def east(ami: str) -> RegionImage:
    """Return a build's image in us-east-1, with one snapshot."""
    return region_image("us-east-1", ami)
