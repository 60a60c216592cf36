"""Copy every record from one lineage store to another (`bakery state migrate`) and check it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from bakery.errors import BakeryError
from bakery.lineage.records import BuildRecord
from bakery.lineage.store import LineageStore

KINDS = ("builds", "images", "promotions", "smoke tests", "shares")

T = TypeVar("T", bound=Hashable)


@dataclass(frozen=True)
class KindCount:
    """How many records of one kind the source holds, and the target after the copy."""

    kind: str
    source: int
    target: int
    copied: int

    @property
    def ok(self) -> bool:
        return self.source == self.target


@dataclass(frozen=True)
class MigrationReport:
    counts: tuple[KindCount, ...]

    @property
    def ok(self) -> bool:
        return all(count.ok for count in self.counts)


def migrate(source: LineageStore, target: LineageStore) -> MigrationReport:
    """Copy builds with their images, promotions, smoke tests and shares (not leases).

    Running it again after an interruption copies only what is missing: builds and shares are
    written as they are, and promotions and smoke tests the target already holds are skipped,
    the others appended oldest first so that their order stays.
    """
    records = source.builds()
    ids = {record.build_id for record in records}
    foreign = [r.build_id for r in target.builds() if r.build_id not in ids]
    if foreign:
        raise BakeryError(
            f"the target store already holds {len(foreign)} builds that are not in the source "
            f"(e.g. {foreign[0]}); migrate into a new, empty store"
        )
    copied = Counter[str]()
    for record in reversed(records):
        target.put(record)
        copied["builds"] += 1
        copied["images"] += len(record.images)
    copied["promotions"] = _append_missing(
        source.promotions(), target.promotions(), target.add_promotion
    )
    for record in reversed(records):
        build_id = record.build_id
        copied["smoke tests"] += _append_missing(
            source.smoke_tests(build_id), target.smoke_tests(build_id), target.add_smoke_test
        )
        for share in source.shares(build_id):
            target.add_share(share)
            copied["shares"] += 1
    before, after = _counts(source), _counts(target)
    return MigrationReport(
        tuple(KindCount(kind, before[kind], after[kind], copied[kind]) for kind in KINDS)
    )


def _append_missing(
    newest_first: Sequence[T], present: Iterable[T], add: Callable[[T], None]
) -> int:
    """Add, oldest first, the items the target lacks (as many times as the source has them)."""
    have = Counter(present)
    added = 0
    for found in reversed(newest_first):
        if have[found] > 0:
            have[found] -= 1
            continue
        add(found)
        added += 1
    return added


def _counts(store: LineageStore) -> Counter[str]:
    records: list[BuildRecord] = store.builds()
    counts = Counter[str]()
    counts["builds"] = len(records)
    counts["images"] = sum(len(record.images) for record in records)
    counts["promotions"] = len(store.promotions())
    for record in records:
        counts["smoke tests"] += len(store.smoke_tests(record.build_id))
        counts["shares"] += len(store.shares(record.build_id))
    return counts
