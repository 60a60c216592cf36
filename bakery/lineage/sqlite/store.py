"""The SQLite lineage store: one file, safe for the threads of one process and for many processes.

Threads share one connection (`check_same_thread=False`) guarded by a lock, so a statement of one
thread never interleaves with a transaction of another. Processes are kept apart by SQLite itself:
WAL journal (readers never wait for a writer), a busy timeout, and every write transaction begun
with BEGIN IMMEDIATE, so it takes the write lock up front instead of failing on an upgrade.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, Self

from bakery.aws.facts import SourceInfo
from bakery.errors import BakeryError, StoreError
from bakery.lineage.records import (
    BuildRecord,
    RegionImage,
    Status,
    artifacts_of,
    interrupted_reason,
)
from bakery.lineage.sqlite import leases, lifecycle

BUSY_TIMEOUT_MS = 30_000
FULL_BELOW_BYTES = 1 << 20  # a file system with less free is full for a store's next write

# Each step takes the schema from version N to N+1 (PRAGMA user_version); append, never edit.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE builds (
            build_id TEXT PRIMARY KEY, recipe TEXT NOT NULL, version TEXT NOT NULL,
            layer TEXT NOT NULL, status TEXT NOT NULL, started_at TEXT NOT NULL, ended_at TEXT,
            input_hash TEXT NOT NULL, region TEXT NOT NULL, parent_build_id TEXT,
            packer_version TEXT, git_commit TEXT, git_dirty INTEGER NOT NULL DEFAULT 0,
            template_sha256 TEXT, log_path TEXT, pid INTEGER, host TEXT, error TEXT,
            revoked INTEGER NOT NULL DEFAULT 0, revoked_reason TEXT,
            source_kind TEXT NOT NULL, source_reference TEXT NOT NULL,
            source_resolved_ami TEXT NOT NULL, source_ssm_version INTEGER, source_owner TEXT,
            source_product_codes TEXT NOT NULL DEFAULT '[]'  -- a JSON list
        )""",
        """CREATE TABLE images (
            build_id TEXT NOT NULL REFERENCES builds (build_id) ON DELETE CASCADE,
            region TEXT NOT NULL, ami_id TEXT NOT NULL,
            snapshot_ids TEXT NOT NULL DEFAULT '[]',  -- a JSON list
            PRIMARY KEY (build_id, region)
        )""",
        "CREATE INDEX builds_recipe ON builds (recipe)",
        "CREATE INDEX builds_parent ON builds (parent_build_id)",
        "CREATE INDEX images_ami ON images (ami_id)",
    ),
    lifecycle.MIGRATION,
    ("ALTER TABLE images ADD COLUMN removed_at TEXT",),
    leases.MIGRATION,
    lifecycle.SHARES_REMOVED,
    # The parameter values a build used: a JSON object of name -> value; {} before schema 6.
    ("ALTER TABLE builds ADD COLUMN parameters TEXT NOT NULL DEFAULT '{}'",),
    # The files a build downloaded: a JSON list of {name, sha256, size}; [] before schema 7.
    ("ALTER TABLE builds ADD COLUMN artifacts TEXT NOT NULL DEFAULT '[]'",),
)
SCHEMA_VERSION = len(MIGRATIONS)

_PLAIN = (
    "build_id", "recipe", "version", "layer", "started_at", "ended_at", "input_hash", "region",
    "parent_build_id", "packer_version", "git_commit", "template_sha256", "log_path", "pid",
    "host", "error", "revoked_reason",
)  # fmt: skip
_COLUMNS = (
    *_PLAIN, "status", "git_dirty", "revoked", "source_kind", "source_reference",
    "source_resolved_ami", "source_ssm_version", "source_owner", "source_product_codes",
    "parameters", "artifacts",
)  # fmt: skip
_NAMES, _PLACES = ", ".join(_COLUMNS), ", ".join("?" * len(_COLUMNS))
_SELECT = f"SELECT {_NAMES} FROM builds"
_INSERT = f"INSERT INTO builds ({_NAMES}) VALUES ({_PLACES})"
_UPSERT = f"INSERT OR REPLACE INTO builds ({_NAMES}) VALUES ({_PLACES})"
_FINISH = f"UPDATE builds SET ({_NAMES}) = ({_PLACES}) WHERE build_id = ? AND status = 'running'"
_UPSERT_IMAGE = (
    "INSERT INTO images (build_id, region, ami_id, snapshot_ids, removed_at) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (build_id, region) DO UPDATE "
    "SET ami_id = excluded.ami_id, snapshot_ids = excluded.snapshot_ids, "
    "removed_at = excluded.removed_at"
)


def empty_file(path: Path) -> bool:
    """Whether `path` is a file with no bytes (a store lost or truncated)."""
    try:
        return path.is_file() and path.stat().st_size == 0
    except OSError:
        return False


def _folder_writable(folder: Path) -> bool:
    """Whether a file can be made in `folder` (SQLite's journal and shared memory are)."""
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def _values(record: BuildRecord) -> tuple[Any, ...]:
    source = record.source
    return (
        *(getattr(record, name) for name in _PLAIN),
        *(record.status.value, int(record.git_dirty), int(record.revoked)),
        *(source.kind, source.reference, source.resolved_ami, source.ssm_version, source.owner),
        json.dumps(list(source.product_codes)),
        json.dumps(dict(record.parameters)),
        json.dumps([asdict(artifact) for artifact in record.artifacts]),
    )


def _record(row: sqlite3.Row, images: Sequence[RegionImage]) -> BuildRecord:
    source = SourceInfo(
        kind=row["source_kind"],
        reference=row["source_reference"],
        resolved_ami=row["source_resolved_ami"],
        ssm_version=row["source_ssm_version"],
        owner=row["source_owner"],
        product_codes=tuple(json.loads(row["source_product_codes"])),
    )
    return BuildRecord(
        **{name: row[name] for name in _PLAIN},
        status=Status(row["status"]),
        git_dirty=bool(row["git_dirty"]),
        revoked=bool(row["revoked"]),
        source=source,
        images=tuple(images),
        parameters=tuple(
            sorted((str(k), str(v)) for k, v in json.loads(row["parameters"]).items())
        ),
        artifacts=artifacts_of(json.loads(row["artifacts"])),
    )


def _put_images(db: sqlite3.Connection, build_id: str, images: Sequence[RegionImage]) -> None:
    rows = [
        (build_id, i.region, i.ami_id, json.dumps(list(i.snapshot_ids)), i.removed_at)
        for i in images
    ]
    db.executemany(_UPSERT_IMAGE, rows)


def _replace_images(db: sqlite3.Connection, build_id: str, images: Sequence[RegionImage]) -> None:
    db.execute("DELETE FROM images WHERE build_id = ?", (build_id,))
    _put_images(db, build_id, images)


class SqliteStore(lifecycle.LifecycleTables, leases.LeaseTable):
    """The lineage store in one SQLite file (one shared connection, guarded by a lock)."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        """Open (creating and migrating) the store at `path`.

        `read_only` is for the commands that only read (history, lineage, plan, channels): when
        the file cannot be opened for writing (read-only file or mount, full disk) it is read
        as it stands, provided no write-ahead log holds changes not yet in the file.
        """
        self.path = path
        self.read_only = False  # True once opened without any write
        self._lock = threading.Lock()
        if read_only and empty_file(path):
            # Lost or truncated: a reader leaves it as it is (empty, and so reported again) and
            # reads an empty store; the next writer makes it a store.
            self._db = self._connect(writable=True, memory=True)
            self.read_only = True
            return
        try:
            self._db = self._connect(writable=True)
        except StoreError as error:
            if not read_only or not self._fully_written():
                raise
            self._db = self._connect(writable=False, after=error)

    def _connect(
        self, *, writable: bool, after: StoreError | None = None, memory: bool = False
    ) -> sqlite3.Connection:
        path = self.path
        try:
            if memory:
                db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            elif writable:
                path.parent.mkdir(parents=True, exist_ok=True)
                # isolation_level=None: we begin and end every transaction ourselves.
                db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            else:  # immutable: no lock, no shared memory, no write-ahead log
                uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
                db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as error:
            raise StoreError(
                f"cannot open the lineage store {path}: {error}; check that its folder exists "
                "and is writable, or point state in bakery.yaml at another store"
            ) from error
        db.row_factory = sqlite3.Row
        self._db = db
        try:
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            db.execute("PRAGMA foreign_keys = ON")
            if writable:
                self._enable_wal()
                self._migrate()
            elif self._schema_version() < SCHEMA_VERSION:
                assert after is not None
                raise StoreError(f"{after}; (its schema is older than this bakery's, too)")
        except sqlite3.DatabaseError as error:
            db.close()
            raise self._unusable(error) from error
        except BakeryError:
            db.close()
            raise
        self.read_only = not writable
        return db

    def _fully_written(self) -> bool:
        """Whether the file holds every committed change: no write-ahead log with frames."""
        wal = self.path.with_name(self.path.name + "-wal")
        try:
            return self.path.stat().st_size > 0 and (not wal.exists() or wal.stat().st_size == 0)
        except OSError:
            return False

    def _enable_wal(self) -> None:
        # Two processes switching a new file to WAL at once: the loser gets SQLITE_BUSY at
        # once, without the busy handler waiting, so wait here instead.
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                self._db.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as error:
                busy = error.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY  # or BUSY_*
                if not busy or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def _migrate(self) -> None:
        for step in range(self._schema_version(), SCHEMA_VERSION):
            with self._transaction() as db:
                if self._schema_version() > step:  # another process migrated meanwhile
                    continue
                for statement in MIGRATIONS[step]:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {step + 1}")

    def _schema_version(self) -> int:
        found = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if found > SCHEMA_VERSION:
            raise BakeryError(
                f"{self.path} was written by a newer bakery (schema {found}, this bakery "
                f"knows up to {SCHEMA_VERSION}); upgrade bakery to use it"
            )
        return found

    def check_writable(self) -> None:
        """Raise a StoreError now if the file refuses writes (read-only file, folder, mount)."""
        if self.read_only:
            raise StoreError(f"the lineage store {self.path} was opened read-only")
        with self._transaction() as db:  # a write statement that changes nothing
            db.execute("UPDATE builds SET build_id = build_id WHERE 0")
        if self._disk_full():  # the statement above needed no space; the records will
            raise StoreError(
                f"the lineage store {self.path} cannot grow: the disk is full (less than "
                f"{FULL_BELOW_BYTES >> 20} MiB free); free space on its file system and rerun"
            )

    @contextmanager
    def _transaction(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        if write and self.read_only:
            raise StoreError(
                f"the lineage store {self.path} could only be opened for reading; make it "
                "writable (see the error of a writing command) and rerun"
            )
        try:
            with self._lock, self._db:  # the connection commits, or rolls back on an error
                self._db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                yield self._db
        except sqlite3.IntegrityError:
            raise  # a constraint the caller turns into its own message
        except sqlite3.DatabaseError as error:  # full, read-only, corrupted, locked, I/O
            raise self._unusable(error) from error

    def _unusable(self, error: sqlite3.Error) -> StoreError:
        """Say what is wrong with the store's file and what to do, for an error of SQLite."""
        code = getattr(error, "sqlite_errorcode", 0) & 0xFF
        where = f"the lineage store {self.path}"
        if code in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM) or (
            code == sqlite3.SQLITE_CANTOPEN and not _folder_writable(self.path.parent)
        ):
            return StoreError(
                f"{where} is read-only ({error}); make the file and its folder writable for "
                "this user, or point state in bakery.yaml at a writable store"
            )
        if code == sqlite3.SQLITE_FULL or (code == sqlite3.SQLITE_IOERR and self._disk_full()):
            return StoreError(
                f"{where} cannot grow: the disk is full ({error}); free space on its file "
                "system and rerun the command"
            )
        if code == sqlite3.SQLITE_NOTADB:
            return StoreError(
                f"{where} is not a usable bakery lineage store ({error}): it is corrupted, or "
                "state in bakery.yaml names another file; restore it from a backup, or move it "
                "aside and run `bakery state import` to recreate the lineage from the images' tags"
            )
        if code == sqlite3.SQLITE_CORRUPT:
            return StoreError(
                f"{where} is corrupted ({error}); restore it from a backup, or move it aside "
                "and run `bakery state import` to recreate the lineage from the images' tags"
            )
        if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return StoreError(
                f"{where} stayed locked by another process for {BUSY_TIMEOUT_MS // 1000} s "
                f"({error}); rerun when the other bakery ends"
            )
        if code == sqlite3.SQLITE_IOERR:
            return StoreError(
                f"{where} cannot be read or written: an I/O error ({error}); check the disk "
                "and the file system it lies on, then rerun"
            )
        return StoreError(
            f"{where} failed ({error}); check the file, its folder and the disk, and the "
            "state setting in bakery.yaml"
        )

    def _disk_full(self) -> bool:
        """Whether the store's file system has (next to) no space left: SQLite often says only
        "disk I/O error" when a write of its shared-memory or journal file finds no space."""
        import shutil

        try:
            return shutil.disk_usage(self.path.parent).free < FULL_BELOW_BYTES
        except OSError:
            return False

    def _select(self, where: str, params: Sequence[Any], limit: int = -1) -> list[BuildRecord]:
        query = f"{_SELECT} WHERE {where} ORDER BY build_id DESC LIMIT {int(limit)}"
        with self._transaction(write=False) as db:
            rows = db.execute(query, params).fetchall()
            images: dict[str, list[RegionImage]] = {}
            for build_id, region, ami_id, snapshots, removed in db.execute(
                "SELECT build_id, region, ami_id, snapshot_ids, removed_at FROM images "
                f"WHERE build_id IN (SELECT build_id FROM ({query})) ORDER BY rowid",
                params,
            ):
                image = RegionImage(region, ami_id, tuple(json.loads(snapshots)), removed)
                images.setdefault(build_id, []).append(image)
        return [_record(row, images.get(row["build_id"], ())) for row in rows]

    def _require(self, db: sqlite3.Connection, build_id: str) -> str:
        row = db.execute("SELECT status FROM builds WHERE build_id = ?", (build_id,)).fetchone()
        if row is None:
            raise BakeryError(f"no build {build_id} in the lineage store {self.path}")
        return str(row["status"])

    def start(self, record: BuildRecord) -> None:
        """Insert a running record; refuse a build id that is already recorded."""
        if record.status is not Status.RUNNING:
            raise BakeryError(f"build {record.build_id} starts as {record.status}, not running")
        with self._transaction() as db:
            try:
                db.execute(_INSERT, _values(record))
            except sqlite3.IntegrityError as error:
                raise BakeryError(f"build {record.build_id} is already recorded") from error
            _put_images(db, record.build_id, record.images)

    def finish(self, record: BuildRecord) -> None:
        """Replace a running record with its finished version; refuse any other change."""
        if record.status is Status.RUNNING:
            raise BakeryError(f"build {record.build_id} cannot finish as running")
        with self._transaction() as db:
            if db.execute(_FINISH, (*_values(record), record.build_id)).rowcount == 0:
                status = self._require(db, record.build_id)
                raise BakeryError(
                    f"build {record.build_id} already ended as {status}; it cannot finish again"
                )
            _replace_images(db, record.build_id, record.images)

    def put(self, record: BuildRecord) -> None:
        """Insert or replace a record whatever its status (for `state import`)."""
        with self._transaction() as db:
            db.execute(_UPSERT, _values(record))
            _replace_images(db, record.build_id, record.images)

    def get(self, build_id: str) -> BuildRecord | None:
        """Return the record of a build, or None."""
        return next(iter(self._select("build_id = ?", (build_id,))), None)

    def builds(self, recipe: str | None = None, status: Status | None = None) -> list[BuildRecord]:
        """Return the records of a recipe and/or status (all by default), newest first."""
        where = "(?1 IS NULL OR recipe = ?1) AND (?2 IS NULL OR status = ?2)"
        return self._select(where, (recipe, None if status is None else status.value))

    def latest_success(
        self, recipe: str, region: str, *, include_revoked: bool = False
    ) -> BuildRecord | None:
        """Return the newest succeeded build of a recipe with an image in a region."""
        where = (
            "recipe = ? AND status = 'succeeded' AND (revoked = 0 OR ?) "
            "AND build_id IN (SELECT build_id FROM images WHERE region = ? AND removed_at IS NULL)"
        )
        return next(iter(self._select(where, (recipe, include_revoked, region), limit=1)), None)

    def find_by_ami(self, ami_id: str) -> BuildRecord | None:
        """Return the build that made an AMI, in any region."""
        where = "build_id IN (SELECT build_id FROM images WHERE ami_id = ?)"
        return next(iter(self._select(where, (ami_id,), limit=1)), None)

    def children(self, build_id: str) -> list[BuildRecord]:
        """Return the builds whose parent build is `build_id`, newest first."""
        return self._select("parent_build_id = ?", (build_id,))

    def mark_interrupted(
        self, is_alive: Callable[[BuildRecord], bool], ended_at: str
    ) -> list[BuildRecord]:
        """Mark running builds that `is_alive` says are dead as interrupted; return them."""
        # is_alive runs outside any transaction: it may be slow, or read this store itself.
        dead = [r for r in self.builds(status=Status.RUNNING) if not is_alive(r)]
        marked: list[str] = []
        with self._transaction() as db:
            for record in dead:
                cursor = db.execute(
                    "UPDATE builds SET status = 'interrupted', ended_at = ?, "
                    "error = COALESCE(error, ?) WHERE build_id = ? AND status = 'running'",
                    (ended_at, interrupted_reason(record), record.build_id),
                )
                if cursor.rowcount:  # unless it finished after we looked
                    marked.append(record.build_id)
        return [found for build_id in marked if (found := self.get(build_id)) is not None]

    def add_images(self, build_id: str, images: Sequence[RegionImage]) -> None:
        """Add the images of a build in more regions, replacing those of the same region."""
        with self._transaction() as db:
            self._require(db, build_id)
            _put_images(db, build_id, images)

    def mark_removed(self, ami_ids: Sequence[str], at: str) -> None:
        """Record that images were deregistered (the build and its AMI ids stay recorded)."""
        with self._transaction() as db:
            db.executemany(
                "UPDATE images SET removed_at = ? WHERE ami_id = ?",
                [(at, ami_id) for ami_id in ami_ids],
            )

    def set_revoked(self, build_id: str, reason: str) -> None:
        """Mark a build as revoked, with the reason."""
        with self._transaction() as db:
            self._require(db, build_id)
            db.execute(
                "UPDATE builds SET revoked = 1, revoked_reason = ? WHERE build_id = ?",
                (reason, build_id),
            )

    def close(self) -> None:
        """Release the store's connection."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
