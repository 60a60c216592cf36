"""Leases in the SQLite store (schema 4): one runner builds a recipe at a time."""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager

from bakery.lineage.records import Lease

MIGRATION: tuple[str, ...] = (
    """CREATE TABLE leases (
        recipe TEXT PRIMARY KEY, holder TEXT NOT NULL, acquired_at REAL NOT NULL,
        expires_at REAL NOT NULL, took_over_from TEXT
    )""",
)


class LeaseTable:
    """Conditional writes inside BEGIN IMMEDIATE: two runners never both hold a lease."""

    def _transaction(self, write: bool = True) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def acquire_lease(
        self, recipe: str, holder: str, ttl: float, now: float, gone: str | None = None
    ) -> Lease | None:
        """Take the lease of a recipe if it is free, ours, expired, or held by `gone`.

        `gone` is a holder the caller found dead (its process ended on this host): its lease
        is taken over at once, but only if it still holds it (compare-and-swap).
        """
        with self._transaction() as db:
            row = db.execute("SELECT * FROM leases WHERE recipe = ?", (recipe,)).fetchone()
            if row is not None and row["holder"] not in (holder, gone) and row["expires_at"] > now:
                return None
            took_over = row["holder"] if row is not None and row["holder"] != holder else None
            lease = Lease(recipe, holder, now, now + ttl, took_over)
            db.execute(
                "INSERT OR REPLACE INTO leases (recipe, holder, acquired_at, expires_at, "
                "took_over_from) VALUES (?, ?, ?, ?, ?)",
                (recipe, holder, lease.acquired_at, lease.expires_at, took_over),
            )
        return lease

    def renew_lease(self, recipe: str, holder: str, ttl: float, now: float) -> bool:
        """Extend our lease; False when it is no longer ours (it expired and was taken over)."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE leases SET expires_at = ? WHERE recipe = ? AND holder = ?",
                (now + ttl, recipe, holder),
            )
            return cursor.rowcount == 1

    def release_lease(self, recipe: str, holder: str) -> None:
        """Give up our lease, if we still hold it."""
        with self._transaction() as db:
            db.execute("DELETE FROM leases WHERE recipe = ? AND holder = ?", (recipe, holder))

    def lease(self, recipe: str) -> Lease | None:
        """Return the current lease of a recipe, expired or not."""
        with self._transaction(write=False) as db:
            row = db.execute("SELECT * FROM leases WHERE recipe = ?", (recipe,)).fetchone()
        if row is None:
            return None
        return Lease(
            row["recipe"],
            row["holder"],
            row["acquired_at"],
            row["expires_at"],
            row["took_over_from"],
        )
