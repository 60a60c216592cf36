"""The lifecycle tables of the SQLite store: promotions, smoke tests, shares (schema 2, 5)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

from bakery.aws.facts import CommandResult
from bakery.lineage.records import Promotion, RegionImage, Share, SmokeTest

MIGRATION: tuple[str, ...] = (
    """CREATE TABLE promotions (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, recipe TEXT NOT NULL, channel TEXT NOT NULL,
        build_id TEXT NOT NULL, images TEXT NOT NULL, at TEXT NOT NULL, by TEXT NOT NULL,
        previous_build_id TEXT, action TEXT NOT NULL, note TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX promotions_channel ON promotions (recipe, channel)",
    """CREATE TABLE smoke_tests (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, build_id TEXT NOT NULL, region TEXT NOT NULL,
        ami_id TEXT NOT NULL, started_at TEXT NOT NULL, ended_at TEXT NOT NULL,
        passed INTEGER NOT NULL, instance_id TEXT, commands TEXT NOT NULL, error TEXT
    )""",
    "CREATE INDEX smoke_tests_build ON smoke_tests (build_id)",
    """CREATE TABLE shares (
        build_id TEXT NOT NULL, account TEXT NOT NULL, at TEXT NOT NULL, by TEXT NOT NULL,
        PRIMARY KEY (build_id, account)
    )""",
)
# Schema 5: shares taken back (revoke) stay recorded, with when and by whom.
SHARES_REMOVED: tuple[str, ...] = (
    "ALTER TABLE shares ADD COLUMN removed_at TEXT",
    "ALTER TABLE shares ADD COLUMN removed_by TEXT",
)


class LifecycleTables:
    """Promotions, smoke tests and shares; mixed into SqliteStore."""

    def _transaction(self, write: bool = True) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def add_promotion(self, promotion: Promotion) -> None:
        """Record that a channel now points to a build."""
        images = json.dumps([[i.region, i.ami_id] for i in promotion.images])
        with self._transaction() as db:
            db.execute(
                "INSERT INTO promotions (recipe, channel, build_id, images, at, by, "
                "previous_build_id, action, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    promotion.recipe,
                    promotion.channel,
                    promotion.build_id,
                    images,
                    promotion.at,
                    promotion.by,
                    promotion.previous_build_id,
                    promotion.action,
                    promotion.note,
                ),
            )

    def promotions(self, recipe: str | None = None, channel: str | None = None) -> list[Promotion]:
        """Return promotions of a recipe and/or channel, newest first."""
        with self._transaction(write=False) as db:
            rows = db.execute(
                "SELECT * FROM promotions WHERE (?1 IS NULL OR recipe = ?1) "
                "AND (?2 IS NULL OR channel = ?2) ORDER BY seq DESC",
                (recipe, channel),
            ).fetchall()
        return [_promotion(row) for row in rows]

    def add_smoke_test(self, result: SmokeTest) -> None:
        """Store the result of a smoke test with its build."""
        commands = json.dumps([vars(c) for c in result.commands])
        with self._transaction() as db:
            db.execute(
                "INSERT INTO smoke_tests (build_id, region, ami_id, started_at, ended_at, passed, "
                "instance_id, commands, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    result.build_id,
                    result.region,
                    result.ami_id,
                    result.started_at,
                    result.ended_at,
                    int(result.passed),
                    result.instance_id,
                    commands,
                    result.error,
                ),
            )

    def smoke_tests(self, build_id: str) -> list[SmokeTest]:
        """Return the smoke tests of a build, newest first."""
        with self._transaction(write=False) as db:
            rows = db.execute(
                "SELECT * FROM smoke_tests WHERE build_id = ? ORDER BY seq DESC", (build_id,)
            ).fetchall()
        return [_smoke_test(row) for row in rows]

    def add_share(self, share: Share) -> None:
        """Record that an account may launch a build's images (or, removed, no longer may)."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO shares (build_id, account, at, by, removed_at, removed_by)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    share.build_id,
                    share.account,
                    share.at,
                    share.by,
                    share.removed_at,
                    share.removed_by,
                ),
            )

    def shares(self, build_id: str) -> list[Share]:
        """Return the accounts a build's images are (or were, when removed) shared with."""
        with self._transaction(write=False) as db:
            rows = db.execute(
                "SELECT * FROM shares WHERE build_id = ? ORDER BY account", (build_id,)
            ).fetchall()
        return [
            Share(
                row["build_id"],
                row["account"],
                row["at"],
                row["by"],
                row["removed_at"],
                row["removed_by"],
            )
            for row in rows
        ]


def _promotion(row: sqlite3.Row) -> Promotion:
    return Promotion(
        recipe=row["recipe"],
        channel=row["channel"],
        build_id=row["build_id"],
        images=tuple(RegionImage(region, ami) for region, ami in json.loads(row["images"])),
        at=row["at"],
        by=row["by"],
        previous_build_id=row["previous_build_id"],
        action=row["action"],
        note=row["note"],
    )


def _smoke_test(row: sqlite3.Row) -> SmokeTest:
    commands: Iterator[dict[str, Any]] = iter(json.loads(row["commands"]))
    return SmokeTest(
        build_id=row["build_id"],
        region=row["region"],
        ami_id=row["ami_id"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        passed=bool(row["passed"]),
        instance_id=row["instance_id"],
        commands=tuple(CommandResult(**c) for c in commands),
        error=row["error"],
    )
