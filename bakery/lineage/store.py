"""The lineage store protocol and `open_store`, which picks an implementation from a state URL."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from bakery.errors import BakeryError
from bakery.lineage.records import (
    BuildRecord,
    Lease,
    Promotion,
    RegionImage,
    Share,
    SmokeTest,
    Status,
)


class LineageStore(Protocol):
    """Every build, its images and its parent; safe to share between threads of one process.

    Lists come newest first (by build id, a ULID, which sorts by start time).
    """

    def start(self, record: BuildRecord) -> None:
        """Insert a running record; refuse a build id that is already recorded."""
        ...

    def check_writable(self) -> None:
        """Raise a BakeryError now if the store would refuse a write, before AWS is changed."""
        ...

    def finish(self, record: BuildRecord) -> None:
        """Replace a running record with its finished version; refuse any other change."""
        ...

    def put(self, record: BuildRecord) -> None:
        """Insert or replace a record whatever its status (for `state import`)."""
        ...

    def get(self, build_id: str) -> BuildRecord | None:
        """Return the record of a build, or None."""
        ...

    def builds(self, recipe: str | None = None, status: Status | None = None) -> list[BuildRecord]:
        """Return the records of a recipe and/or status (all by default), newest first."""
        ...

    def latest_success(
        self, recipe: str, region: str, *, include_revoked: bool = False
    ) -> BuildRecord | None:
        """Return the newest succeeded build of a recipe with an image in a region."""
        ...

    def find_by_ami(self, ami_id: str) -> BuildRecord | None:
        """Return the build that made an AMI, in any region."""
        ...

    def children(self, build_id: str) -> list[BuildRecord]:
        """Return the builds whose parent build is `build_id`, newest first."""
        ...

    def mark_interrupted(
        self, is_alive: Callable[[BuildRecord], bool], ended_at: str
    ) -> list[BuildRecord]:
        """Mark running builds that `is_alive` says are dead as interrupted; return them."""
        ...

    def add_images(self, build_id: str, images: Sequence[RegionImage]) -> None:
        """Add the images of a build in more regions, replacing those of the same region."""
        ...

    def mark_removed(self, ami_ids: Sequence[str], at: str) -> None:
        """Record that images were deregistered (the build and its AMI ids stay recorded)."""
        ...

    def set_revoked(self, build_id: str, reason: str) -> None:
        """Mark a build as revoked, with the reason."""
        ...

    def add_promotion(self, promotion: Promotion) -> None:
        """Record that a channel now points to a build."""
        ...

    def promotions(self, recipe: str | None = None, channel: str | None = None) -> list[Promotion]:
        """Return promotions of a recipe and/or channel, newest first."""
        ...

    def add_smoke_test(self, result: SmokeTest) -> None:
        """Store the result of a smoke test with its build."""
        ...

    def smoke_tests(self, build_id: str) -> list[SmokeTest]:
        """Return the smoke tests of a build, newest first."""
        ...

    def add_share(self, share: Share) -> None:
        """Record that an account may launch a build's images (or, removed, no longer may)."""
        ...

    def shares(self, build_id: str) -> list[Share]:
        """Return the accounts a build's images are (or were, when removed) shared with."""
        ...

    def acquire_lease(
        self, recipe: str, holder: str, ttl: float, now: float, gone: str | None = None
    ) -> Lease | None:
        """Take the lease of a recipe if it is free, ours, expired, or held by `gone`.

        `gone` is a holder the caller found dead (its process ended on this host): its lease
        is taken over at once, but only if it still holds it (compare-and-swap).
        """
        ...

    def renew_lease(self, recipe: str, holder: str, ttl: float, now: float) -> bool:
        """Extend our lease; False when it is no longer ours (it expired and was taken over)."""
        ...

    def release_lease(self, recipe: str, holder: str) -> None:
        """Give up our lease, if we still hold it."""
        ...

    def lease(self, recipe: str) -> Lease | None:
        """Return the current lease of a recipe, expired or not."""
        ...

    def close(self) -> None:
        """Release the store's connection."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


def empty_store_file(url: str, root: Path) -> Path | None:
    """The SQLite file a state URL names when it exists with no bytes (lost or truncated)."""
    scheme, _, rest = url.partition(":")
    if scheme != "sqlite" or not rest:
        return None
    from bakery.lineage.sqlite.store import empty_file

    path = Path(rest).expanduser()
    path = path if path.is_absolute() else root / path
    return path if empty_file(path) else None


def open_store(
    url: str,
    root: Path,
    *,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    local: bool = False,
    read_only: bool = False,
) -> LineageStore:
    """Open the store a state URL names: `sqlite:PATH` or `dynamodb://TABLE?region=REGION`.

    `read_only`: the caller only reads, so a SQLite file that refuses writes is still read.
    """
    # PATH is relative to the project root. DynamoDB is reached with the AWS settings given;
    # its region is the URL's, else `region` (the project's), else us-east-1.
    from bakery.lineage.sqlite.store import SqliteStore

    scheme, _, rest = url.partition(":")
    if scheme == "sqlite" and rest:
        path = Path(rest).expanduser()
        return SqliteStore(path if path.is_absolute() else root / path, read_only=read_only)
    if scheme == "dynamodb":
        from bakery.aws.session import AwsSettings
        from bakery.lineage.dynamodb.store import open_dynamodb

        settings = AwsSettings(region or "us-east-1", profile, endpoint_url, local)
        return open_dynamodb(url, settings)
    raise BakeryError(
        f"state {url!r} is not a lineage store URL; use sqlite:PATH (e.g. "
        "sqlite:.bakery/lineage.db) or dynamodb://TABLE?region=REGION in bakery.yaml"
    )
