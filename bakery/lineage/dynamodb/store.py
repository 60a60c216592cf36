"""The DynamoDB lineage store: every record in one table, shared by runners on many machines.

Key schema (every key a string; `bakery state init` creates the table, on demand, with PITR):

    item         PK               SK               indexes (partition / sort)
    build        BUILD#<id>       BUILD            GSI1 RECIPE#<recipe> / <id>
                                                   GSI2 PARENT#<parent> / <id> (if it has one)
                                                   GSI3 STATUS#<status> / <id>
    image        BUILD#<id>       IMAGE#<region>   GSI1 RECIPE#<recipe> / <id>#IMAGE#<region>
                                                   GSI2 PARENT#<parent> / <id>#IMAGE#<region>
    AMI lookup   AMI#<ami>        <id>#<region>
    smoke test   BUILD#<id>       TEST#<seq>
    share        BUILD#<id>       SHARE#<account>
    promotion    PROMOS#<recipe>  PROMO#<seq>
    lease        LEASE#<recipe>   LEASE
    sequence     COUNTER          SEQ              an atomic counter: promotions and tests in order

The indexes project every attribute. A build and its images share GSI1 and GSI2 partitions and
sort as `<id>#IMAGE#...` before `<id>` when read newest first, so one query returns whole
records. Reads that decide a write (get, find_by_ami, promotions, leases, full listings) use
the table with strong consistency; listings by recipe, parent or status use an index and may lag
a write by a moment (DynamoDB: typically well under a second). The AMI lookup is a table item,
not an index, so a build is found by its AMI the moment it finishes.

Conditional writes keep runners apart: `start` only if the build is new, `finish` and
`mark_interrupted` only while it runs, leases by compare-and-swap (see dynamodb_leases). A refused
condition becomes a one-line BakeryError. The store keeps no mutable state: the boto3 client is
safe to share between threads.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from bakery.aws.session import AwsSettings, Gateway
from bakery.errors import BakeryError
from bakery.lineage.dynamodb import items
from bakery.lineage.dynamodb.leases import LeaseItems
from bakery.lineage.dynamodb.lifecycle import LifecycleItems
from bakery.lineage.dynamodb.table import (
    ConditionFailed,
    Table,
    check_op,
    put_op,
)
from bakery.lineage.records import BuildRecord, RegionImage, Status, interrupted_reason

_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+")
_INTERRUPT = (
    "SET #status = :interrupted, #ended_at = :at, #error = if_not_exists(#error, :gone), "
    "GSI3PK = :index"
)
_BUILD_AND_IMAGES = "PK = :pk AND SK BETWEEN :build AND :images_end"


def parse_url(url: str) -> tuple[str, str | None]:
    """Return the table and region (None: the default) of `dynamodb://TABLE?region=REGION`."""
    parts = urlsplit(url)
    query = parse_qs(parts.query, keep_blank_values=True)
    region = query.get("region", [None])[-1]
    if (
        parts.scheme != "dynamodb"
        or not _TABLE_NAME.fullmatch(parts.netloc)
        or parts.path not in ("", "/")
        or set(query) - {"region"}
        or (region is not None and not _REGION.fullmatch(region))
    ):
        raise BakeryError(
            f"state {url!r} is not a DynamoDB store URL; use dynamodb://TABLE or "
            "dynamodb://TABLE?region=REGION (TABLE: 3-255 letters, digits, '_', '.', '-')"
        )
    return parts.netloc, region


def open_dynamodb(url: str, settings: AwsSettings) -> DynamoStore:
    """Open the store of a `dynamodb://` URL; its region overrides that of `settings`."""
    table, region = parse_url(url)
    if region is not None and region != settings.region:
        settings = AwsSettings(region, settings.profile, settings.endpoint_url, settings.local)
    return DynamoStore(table, Gateway(settings))


class DynamoStore(LifecycleItems, LeaseItems):
    """The lineage store in one DynamoDB table (see the module docstring for its keys)."""

    def __init__(self, table: str, gateway: Gateway) -> None:
        self.table = Table(gateway, table)

    @property
    def url(self) -> str:
        return self.table.url

    def _load(self, build_id: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """Return the build item and the image items of a build, read consistently."""
        build: dict[str, Any] | None = None
        images: list[dict[str, Any]] = []
        for found in self.table.query(_BUILD_AND_IMAGES, _bounds(build_id)):
            values = items.plain(found)
            if values["SK"] == items.BUILD_SK:
                build = values
            else:
                images.append(values)
        return build, images

    def _missing(self, build_id: str) -> BakeryError:
        return BakeryError(f"no build {build_id} in the lineage store {self.url}")

    def check_writable(self) -> None:
        """Nothing to check ahead: IAM decides at each write, and a denied write says so.

        (A test write would need its own item and permission; the table exists, `open` checks.)
        """

    def start(self, record: BuildRecord) -> None:
        """Insert a running record; refuse a build id that is already recorded."""
        if record.status is not Status.RUNNING:
            raise BakeryError(f"build {record.build_id} starts as {record.status}, not running")
        first = put_op(items.build_item(record), "attribute_not_exists(PK)")
        try:
            self.table.transact(
                [first, *items.image_ops(record, items.numbered(record.images), [])]
            )
        except ConditionFailed as error:
            raise BakeryError(f"build {record.build_id} is already recorded") from error

    def finish(self, record: BuildRecord) -> None:
        """Replace a running record with its finished version; refuse any other change."""
        if record.status is Status.RUNNING:
            raise BakeryError(f"build {record.build_id} cannot finish as running")
        _, old = self._load(record.build_id)
        first = put_op(items.build_item(record), "#status = :running", running="running")
        try:
            self.table.transact(
                [first, *items.image_ops(record, items.numbered(record.images), old)]
            )
        except ConditionFailed as error:
            build, _ = self._load(record.build_id)
            if build is None:
                raise self._missing(record.build_id) from error
            raise BakeryError(
                f"build {record.build_id} already ended as {build['status']}; "
                "it cannot finish again"
            ) from error

    def put(self, record: BuildRecord) -> None:
        """Insert or replace a record whatever its status (for `state import`)."""
        _, old = self._load(record.build_id)
        first = put_op(items.build_item(record))
        self.table.transact([first, *items.image_ops(record, items.numbered(record.images), old)])

    def get(self, build_id: str) -> BuildRecord | None:
        """Return the record of a build, or None."""
        build, images = self._load(build_id)
        return None if build is None else items.build_record(build, images)

    def builds(self, recipe: str | None = None, status: Status | None = None) -> list[BuildRecord]:
        """Return the records of a recipe and/or status (all by default), newest first."""
        if recipe is not None:
            found = self._index("GSI1", f"RECIPE#{recipe}")
            return [r for r in found if status is None or r.status is status]
        if status is not None:
            listed = self.table.query(
                "GSI3PK = :pk", {"pk": f"STATUS#{status.value}"}, index="GSI3", newest_first=True
            )
            # Meant for the few running builds: the index has no images, so each is read whole.
            records = (self.get(items.plain(found)["build_id"]) for found in listed)
            # The index may lag: keep what the table says has that status now.
            return [r for r in records if r is not None and r.status is status]
        every = self.table.scan(
            "begins_with(PK, :builds) AND (SK = :build OR begins_with(SK, :image))",
            {"builds": "BUILD#", "build": items.BUILD_SK, "image": "IMAGE#"},
        )
        return items.assemble(every)

    def _index(self, index: str, partition: str) -> list[BuildRecord]:
        return list(self._stream(index, partition))

    def _stream(self, index: str, partition: str) -> Iterator[BuildRecord]:
        condition = f"{index}PK = :pk"
        found = self.table.query(condition, {"pk": partition}, index=index, newest_first=True)
        return items.stream(found)

    def latest_success(
        self, recipe: str, region: str, *, include_revoked: bool = False
    ) -> BuildRecord | None:
        """Return the newest succeeded build of a recipe with an image in a region."""
        for record in self._stream("GSI1", f"RECIPE#{recipe}"):
            image = record.image_in(region)
            if (
                record.status is Status.SUCCEEDED
                and (include_revoked or not record.revoked)
                and image is not None
                and image.removed_at is None
            ):
                return record
        return None

    def find_by_ami(self, ami_id: str) -> BuildRecord | None:
        """Return the build that made an AMI, in any region."""
        pk = {"pk": f"AMI#{ami_id}"}
        for found in self.table.query("PK = :pk", pk, newest_first=True, limit=1):
            return self.get(items.plain(found)["build_id"])
        return None

    def children(self, build_id: str) -> list[BuildRecord]:
        """Return the builds whose parent build is `build_id`, newest first."""
        return self._index("GSI2", f"PARENT#{build_id}")

    def mark_interrupted(
        self, is_alive: Callable[[BuildRecord], bool], ended_at: str
    ) -> list[BuildRecord]:
        """Mark running builds that `is_alive` says are dead as interrupted; return them."""
        dead = [r for r in self.builds(status=Status.RUNNING) if not is_alive(r)]
        marked: list[BuildRecord] = []
        for record in dead:
            try:
                self.table.update(
                    items.build_key(record.build_id),
                    _INTERRUPT,
                    "#status = :running",
                    interrupted=Status.INTERRUPTED.value,
                    at=ended_at,
                    gone=interrupted_reason(record),
                    index=f"STATUS#{Status.INTERRUPTED.value}",
                    running=Status.RUNNING.value,
                )
            except ConditionFailed:
                continue  # it finished after we looked
            found = self.get(record.build_id)
            if found is not None:
                marked.append(found)
        return marked

    def add_images(self, build_id: str, images: Sequence[RegionImage]) -> None:
        """Add the images of a build in more regions, replacing those of the same region."""
        build, old = self._load(build_id)
        if build is None:
            raise self._missing(build_id)
        # A new region goes after the others; a region already recorded keeps its place.
        positions = {str(i["region"]): int(i.get("pos", 0)) for i in old}
        added = [image for image, _ in items.numbered(images)]
        for image in added:
            positions.setdefault(image.region, max(positions.values(), default=-1) + 1)
        numbered = [(image, positions[image.region]) for image in added]
        exists = check_op(items.build_key(build_id), "attribute_exists(PK)")
        ops = items.image_ops(build, numbered, old, replace=False)
        try:
            self.table.transact([exists, *ops])
        except ConditionFailed as error:
            raise self._missing(build_id) from error

    def mark_removed(self, ami_ids: Sequence[str], at: str) -> None:
        """Record that images were deregistered (the build and its AMI ids stay recorded)."""
        for ami_id in ami_ids:
            for found in list(self.table.query("PK = :pk", {"pk": f"AMI#{ami_id}"})):
                values = items.plain(found)
                try:
                    self.table.update(
                        items.image_key(values["build_id"], values["region"]),
                        "SET #removed_at = :at",
                        "#ami_id = :ami",
                        at=at,
                        ami=ami_id,
                    )
                except ConditionFailed:
                    continue  # that region's image was replaced meanwhile

    def set_revoked(self, build_id: str, reason: str) -> None:
        """Mark a build as revoked, with the reason."""
        try:
            self.table.update(
                items.build_key(build_id),
                "SET #revoked = :yes, #revoked_reason = :reason",
                "attribute_exists(PK)",
                yes=True,
                reason=reason,
            )
        except ConditionFailed as error:
            raise self._missing(build_id) from error

    def close(self) -> None:
        """Release the store's connection (boto3 keeps none open between calls)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _bounds(build_id: str) -> dict[str, object]:
    return {"pk": items.build_pk(build_id), "build": items.BUILD_SK, "images_end": items.IMAGES_END}
