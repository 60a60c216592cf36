"""Frozen build records: what the lineage store keeps about every build.

`SourceInfo` and `CommandResult` are facts the AWS gateway reports (`bakery.aws.facts`); a
record holds them as they were reported.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from bakery.aws.facts import CLOCK_AHEAD_SECONDS, CommandResult, SourceInfo

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class Status(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # the bakery process running it ended (killed, machine lost)
    ABANDONED = "abandoned"  # what bakery before 0.4 called INTERRUPTED; read, never written


FINISHED = frozenset(
    {Status.SUCCEEDED, Status.FAILED, Status.CANCELLED, Status.INTERRUPTED, Status.ABANDONED}
)


def interrupted_reason(record: BuildRecord) -> str:
    """What is known of a build whose bakery process ended while it ran."""
    where = f"pid {record.pid} on {record.host}" if record.pid else "its bakery process"
    log = f"; its log keeps what Packer wrote: {record.log_path}" if record.log_path else ""
    return f"interrupted: {where} ended while it ran{log}"


def iso_utc(moment: datetime | None = None) -> str:
    """Write a moment (now by default) the way every record stores time: ISO 8601 UTC."""
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def started_epoch(record: BuildRecord) -> float | None:
    """When a build started, in epoch seconds (UTC if the record names no zone); None if the
    record's start cannot be read."""
    try:
        started = datetime.fromisoformat(record.started_at.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (started if started.tzinfo else started.replace(tzinfo=UTC)).timestamp()


def dated_ahead(record: BuildRecord, now: datetime | None = None) -> bool:
    """Whether a build says it started in the future: the clock of its runner was ahead."""
    started = started_epoch(record)
    if started is None:
        return False
    return started - (now or datetime.now(UTC)).timestamp() > CLOCK_AHEAD_SECONDS


def new_build_id(now: float | None = None) -> str:
    """Return a ULID: 26 characters that sort by creation time (ms), then randomly."""
    millis = int((time.time() if now is None else now) * 1000)
    value = (millis << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


@dataclass(frozen=True)
class RegionImage:
    """The image of a build in one region."""

    region: str
    ami_id: str
    snapshot_ids: tuple[str, ...] = ()
    removed_at: str | None = None  # when prune deregistered it


@dataclass(frozen=True)
class Artifact:
    """A file a build downloaded from its instance, kept in its build folder's `artifacts/`."""

    name: str  # its path below artifacts/, "/"-separated (e.g. "sbom.json", "logs/cloud-init.log")
    sha256: str  # hex
    size: int  # bytes


def artifacts_of(values: Iterable[Mapping[str, Any]]) -> tuple[Artifact, ...]:
    """Return the artifacts a store keeps as plain values (`{name, sha256, size}`), in order."""
    return tuple(Artifact(str(v["name"]), str(v["sha256"]), int(v["size"])) for v in values)


@dataclass(frozen=True)
class BuildRecord:
    """One build of one recipe, from the moment before Packer starts."""

    build_id: str
    recipe: str
    version: str
    layer: str
    status: Status
    started_at: str  # ISO 8601 UTC
    input_hash: str
    source: SourceInfo
    region: str  # the build region
    ended_at: str | None = None
    parent_build_id: str | None = None
    packer_version: str | None = None
    git_commit: str | None = None
    git_dirty: bool = False
    template_sha256: str | None = None
    log_path: str | None = None
    pid: int | None = None  # of the bakery process that runs it, to detect interrupted builds
    host: str | None = None
    error: str | None = None
    images: tuple[RegionImage, ...] = field(default_factory=tuple)
    revoked: bool = False
    revoked_reason: str | None = None
    # The resolved value of every parameter the recipe used, as text, sorted by name.
    parameters: tuple[tuple[str, str], ...] = ()
    # The files downloaded from the instance (bakery.lineage.artifacts), sorted by name; listed
    # when Packer ended, whatever its result.
    artifacts: tuple[Artifact, ...] = ()

    def image_in(self, region: str) -> RegionImage | None:
        return next((image for image in self.images if image.region == region), None)

    @property
    def ami_ids(self) -> tuple[str, ...]:
        return tuple(image.ami_id for image in self.images)

    def finished(self, status: Status, ended_at: str, **changes: object) -> BuildRecord:
        """Return this record completed with `status` at `ended_at`."""
        return replace(self, status=status, ended_at=ended_at, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Promotion:
    """A channel pointed at a build's images (also a rollback or a move after a revocation)."""

    recipe: str
    channel: str
    build_id: str
    images: tuple[RegionImage, ...]
    at: str  # ISO 8601 UTC
    by: str  # who: user@host
    previous_build_id: str | None = None
    action: str = "promote"  # promote | rollback | revoke
    note: str = ""


@dataclass(frozen=True)
class SmokeTest:
    """The result of `bakery test` on a build's image."""

    build_id: str
    region: str
    ami_id: str
    started_at: str
    ended_at: str
    passed: bool
    instance_id: str | None = None
    commands: tuple[CommandResult, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class Share:
    """An account given launch permission on a build's images (and, once removed, when)."""

    build_id: str
    account: str
    at: str
    by: str
    removed_at: str | None = None  # when the permission was taken back (revoke)
    removed_by: str | None = None

    @property
    def active(self) -> bool:
        return self.removed_at is None


@dataclass(frozen=True)
class Lease:
    """A runner's claim on building a recipe, kept alive by renewing it before it expires."""

    recipe: str
    holder: str  # host:pid:start:random, unique per runner (bakery.lineage.leases)
    acquired_at: float  # epoch seconds
    expires_at: float
    took_over_from: str | None = None  # the holder whose lease expired, or whose process ended
