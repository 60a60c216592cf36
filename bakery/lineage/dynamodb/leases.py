"""Leases in the DynamoDB store: one runner builds a recipe at a time, on any machine."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from typing import Any

from bakery.lineage.dynamodb import items
from bakery.lineage.dynamodb.table import ConditionFailed, Table
from bakery.lineage.records import Lease

ATTEMPTS = 10  # reads and conditional writes before giving up to a lease that keeps changing

# Take the lease only if it is still what we read (compare-and-swap), and only if that was
# ours, expired, or a holder's found gone: two runners that read one lease cannot both take it.
_UNCHANGED = (
    "#holder = :old_holder AND #expires_at = :old_expires_at "
    "AND (#holder = :holder OR #expires_at <= :now OR #holder = :gone)"
)


class LeaseItems:
    """Conditional writes on one item per recipe: two runners never both hold a lease."""

    table: Table

    def acquire_lease(
        self, recipe: str, holder: str, ttl: float, now: float, gone: str | None = None
    ) -> Lease | None:
        """Take the lease of a recipe if it is free, ours, expired, or held by `gone`.

        `gone` is a holder the caller found dead (its process ended on this host): its lease
        is taken over at once, but only if it still holds it (compare-and-swap).
        """
        for _ in range(ATTEMPTS):
            current = self.lease(recipe)
            if (
                current is not None
                and current.holder not in (holder, gone)
                and current.expires_at > now
            ):
                return None
            took_over = current.holder if current and current.holder != holder else None
            lease = Lease(recipe, holder, now, now + ttl, took_over)
            try:
                if current is None:
                    self.table.put(_lease_item(lease), "attribute_not_exists(PK)")
                else:
                    self.table.put(
                        _lease_item(lease),
                        _UNCHANGED,
                        old_holder=current.holder,
                        old_expires_at=current.expires_at,
                        holder=holder,
                        now=now,
                        gone=gone or holder,
                    )
            except ConditionFailed:
                continue  # another runner wrote it after we read it: look again
            return lease
        return None

    def renew_lease(self, recipe: str, holder: str, ttl: float, now: float) -> bool:
        """Extend our lease; False when it is no longer ours (it expired and was taken over)."""
        try:
            self.table.update(
                items.lease_key(recipe),
                "SET #expires_at = :expires_at",
                "#holder = :holder",
                expires_at=now + ttl,
                holder=holder,
            )
        except ConditionFailed:
            return False
        return True

    def release_lease(self, recipe: str, holder: str) -> None:
        """Give up our lease, if we still hold it."""
        with suppress(ConditionFailed):  # taken over after it expired: not ours to delete
            self.table.delete(items.lease_key(recipe), "#holder = :holder", holder=holder)

    def lease(self, recipe: str) -> Lease | None:
        """Return the current lease of a recipe, expired or not."""
        found = self.table.get(items.lease_key(recipe))
        return None if found is None else _lease(items.plain(found))


def _lease_item(lease: Lease) -> items.Item:
    return items.lease_key(lease.recipe) | items.item(
        recipe=lease.recipe,
        holder=lease.holder,
        acquired_at=lease.acquired_at,
        expires_at=lease.expires_at,
        took_over_from=lease.took_over_from,
    )


def _lease(values: Mapping[str, Any]) -> Lease:
    return Lease(
        values["recipe"],
        values["holder"],
        float(values["acquired_at"]),
        float(values["expires_at"]),
        values.get("took_over_from"),
    )
