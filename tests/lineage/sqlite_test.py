"""What only the SQLite store does: a versioned schema in one file, WAL, many processes.

What every store promises is checked on this one too, in store_contract_test.py.
"""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
from dataclasses import replace
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from bakery.errors import BakeryError, StoreError
from bakery.lineage.records import Artifact, BuildRecord, Lease, RegionImage, Share, Status
from bakery.lineage.sqlite.store import MIGRATIONS, SCHEMA_VERSION, SqliteStore
from tests.support.records import T0, east, make_record, succeeded
from tests.support.stores import read_only_connections, refuse_writable_connections


def test_schema_version_and_wal_are_recorded_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "lineage.db"
    with SqliteStore(path) as store:
        store.start(make_record())
    with SqliteStore(path) as reopened:  # migrating again is a no-op
        assert len(reopened.builds()) == 1
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def _first_schema_row(record: BuildRecord) -> dict[str, object]:
    """Return the `builds` row of a record as schema 1 keeps it."""
    plain = ("build_id", "recipe", "version", "layer", "started_at", "ended_at", "input_hash")
    more = ("region", "packer_version", "git_commit", "template_sha256", "log_path", "pid", "host")
    source = record.source
    return {
        **{name: getattr(record, name) for name in (*plain, *more)},
        "status": record.status.value,
        "git_dirty": int(record.git_dirty),
        "source_kind": source.kind,
        "source_reference": source.reference,
        "source_resolved_ami": source.resolved_ami,
        "source_ssm_version": source.ssm_version,
        "source_owner": source.owner,
        "source_product_codes": json.dumps(list(source.product_codes)),
    }


def test_a_file_of_the_first_schema_is_migrated_keeping_its_builds(tmp_path: Path) -> None:
    path = tmp_path / "lineage.db"
    record = succeeded(make_record(), RegionImage("us-east-1", "ami-1", ("snap-1",)))
    row = _first_schema_row(record)
    _old_store(path, 1, row)  # as the first bakery wrote it: builds and images only
    with SqliteStore(path) as store:
        assert store.get(record.build_id) == record
        store.mark_removed(["ami-1"], "2026-01-01T00:00:00Z")  # schema 3
        assert store.latest_success("web", "us-east-1") is None
        assert store.promotions() == []  # schema 2
        assert store.acquire_lease("web", "me", 10, now=0.0) == Lease("web", "me", 0.0, 10.0)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()


def test_a_store_from_a_newer_bakery_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "lineage.db"
    SqliteStore(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(BakeryError, match=r"written by a newer bakery .*upgrade bakery"):
        SqliteStore(path)


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "lineage.db"
    path.write_text("not sqlite at all, just some text that is long enough" * 20)
    with pytest.raises(BakeryError, match="not a usable bakery lineage store"):
        SqliteStore(path)


def _write_builds(path: Path, worker: int, count: int, ready: Barrier) -> None:
    ready.wait(timeout=60)  # both processes open the new file and write at the same time
    with SqliteStore(path) as store:
        for index in range(count):
            record = make_record(f"r{worker}", at=T0 + index)
            store.start(record)
            store.get(record.build_id)
            store.finish(succeeded(record, east(f"ami-{worker}-{index}")))


def test_two_processes_on_one_file_lose_no_write(tmp_path: Path) -> None:
    path = tmp_path / "lineage.db"
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(2)
    processes = [
        context.Process(target=_write_builds, args=(path, worker, 40, ready)) for worker in range(2)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [p.exitcode for p in processes] == [0, 0]
    with SqliteStore(path) as store:
        assert len(store.builds(status=Status.SUCCEEDED)) == 80
        assert store.builds(status=Status.RUNNING) == []


def test_a_read_only_store_reads_and_refuses_writes_with_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "lineage.db"
    record = make_record()
    with SqliteStore(path) as store:
        store.start(record)
    read_only_connections(monkeypatch)
    with SqliteStore(path) as store:
        assert [r.build_id for r in store.builds()] == [record.build_id]
        with pytest.raises(BakeryError) as caught:
            store.finish(succeeded(record, east("ami-1")))
    assert str(caught.value) == (
        f"the lineage store {path} is read-only (attempt to write a readonly database); make "
        "the file and its folder writable for this user, or point state in bakery.yaml at a "
        "writable store"
    )


def test_a_new_store_that_cannot_be_written_is_refused_with_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_only_connections(monkeypatch)
    with pytest.raises(BakeryError, match=r"lineage store .* is read-only .*make the file"):
        SqliteStore(tmp_path / "lineage.db")


def test_a_removed_share_stays_recorded_with_when_and_by_whom(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "lineage.db") as store:
        record = make_record()
        store.start(record)
        share = Share(record.build_id, "111122223333", "t0", "me@host")
        store.add_share(share)
        assert store.shares(record.build_id) == [share] and share.active
        store.add_share(replace(share, removed_at="t1", removed_by="you@host"))
        [removed] = store.shares(record.build_id)
        assert (removed.removed_at, removed.removed_by, removed.active) == ("t1", "you@host", False)
        store.add_share(replace(share, at="t2"))  # shared again
        assert store.shares(record.build_id) == [replace(share, at="t2")]


def test_shares_of_a_schema_4_store_are_kept_when_it_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "lineage.db"
    db = sqlite3.connect(path)
    for step in MIGRATIONS[:4]:
        for statement in step:
            db.execute(statement)
    db.execute("INSERT INTO shares VALUES ('01HBUILD', '111122223333', 't0', 'me')")
    db.execute("PRAGMA user_version = 4")
    db.commit()
    db.close()
    with SqliteStore(path) as store:
        assert store.shares("01HBUILD") == [Share("01HBUILD", "111122223333", "t0", "me")]


def test_builds_of_a_schema_5_store_read_without_parameters_once_migrated(
    tmp_path: Path,
) -> None:
    path = tmp_path / "lineage.db"
    record = succeeded(make_record(), RegionImage("us-east-1", "ami-1", ("snap-1",)))
    row = _first_schema_row(record)
    _old_store(path, 5, row)  # as bakery wrote it before builds kept their parameters
    with SqliteStore(path) as store:
        found = store.get(record.build_id)
        assert found == record and found.parameters == ()
        newer = make_record(at=T0 + 1, parameters=(("arch", "arm64"),))
        store.start(newer)
        assert store.get(newer.build_id) == newer
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("SELECT parameters FROM builds ORDER BY build_id").fetchall() == [
        ("{}",),
        ('{"arch": "arm64"}',),
    ]
    db.close()


def test_builds_of_a_schema_6_store_read_without_artifacts_once_migrated(
    tmp_path: Path,
) -> None:
    path = tmp_path / "lineage.db"
    record = succeeded(
        make_record(parameters=(("arch", "arm64"),)), RegionImage("us-east-1", "ami-1", ("snap-1",))
    )
    row = {**_first_schema_row(record), "parameters": '{"arch": "arm64"}'}
    _old_store(path, 6, row)  # as bakery wrote it before builds kept what they downloaded
    with SqliteStore(path) as store:
        found = store.get(record.build_id)
        assert found == record and found.artifacts == ()
        newer = make_record(at=T0 + 1, artifacts=(Artifact("sbom.json", "ab" * 32, 17),))
        store.start(newer)
        assert store.get(newer.build_id) == newer
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 7
    assert db.execute("SELECT artifacts FROM builds ORDER BY build_id").fetchall() == [
        ("[]",),
        (f'[{{"name": "sbom.json", "sha256": "{"ab" * 32}", "size": 17}}]',),
    ]
    db.close()


def test_a_full_store_says_the_disk_is_full_and_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "lineage.db"
    with SqliteStore(path) as store:
        record = make_record()
        store.start(record)
        pages = store._db.execute("PRAGMA page_count").fetchone()[0]
        store._db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own SQLITE_FULL
        big = replace(record, error="x" * 100_000)
        with pytest.raises(StoreError) as caught:
            store.finish(big.finished(Status.FAILED, "t1"))
    assert str(caught.value).startswith(f"the lineage store {path} cannot grow: the disk is full")
    assert str(caught.value).endswith("free space on its file system and rerun the command")


def test_a_store_with_corrupted_pages_says_so_and_how_to_recover(tmp_path: Path) -> None:
    path = tmp_path / "lineage.db"
    with SqliteStore(path) as store:
        for n in range(40):
            store.start(make_record(build_id=f"01CORRUPT{n:04d}", error="e" * 2000))
    with path.open("r+b") as file:  # the pages of the builds' table, overwritten
        file.seek(4096 * 2)
        file.write(b"\xde\xad" * 8192)
    with pytest.raises(StoreError) as caught, SqliteStore(path) as store:
        store.builds()
    assert str(caught.value) == (
        f"the lineage store {path} is corrupted (database disk image is malformed); restore it "
        "from a backup, or move it aside and run `bakery state import` to recreate the lineage "
        "from the images' tags"
    )


def test_a_store_that_cannot_be_opened_for_writing_is_still_read_by_readers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "lineage.db"
    record = make_record()
    with SqliteStore(path) as store:
        store.start(record)
    refuse_writable_connections(monkeypatch)
    with pytest.raises(StoreError, match="cannot open the lineage store"):
        SqliteStore(path)  # a writer is refused, before it changes anything
    with SqliteStore(path, read_only=True) as store:
        assert store.read_only and [r.build_id for r in store.builds()] == [record.build_id]
        with pytest.raises(StoreError, match="opened read-only"):
            store.check_writable()
        with pytest.raises(StoreError, match="could only be opened for reading"):
            store.finish(record.finished(Status.FAILED, "t1"))


def test_a_reader_does_not_read_past_changes_still_in_the_write_ahead_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "lineage.db"
    writer = SqliteStore(path)
    writer._db.execute("PRAGMA wal_autocheckpoint = 0")
    writer.start(make_record())  # in the -wal file only, not yet in the store file
    refuse_writable_connections(monkeypatch)
    with pytest.raises(StoreError, match="cannot open the lineage store"):
        SqliteStore(path, read_only=True)  # the file alone would miss the newest build
    writer.close()


def test_a_reader_leaves_an_empty_store_file_empty_so_it_is_reported_again(tmp_path: Path) -> None:
    path = tmp_path / "lineage.db"
    path.write_bytes(b"")  # lost or truncated
    with SqliteStore(path, read_only=True) as store:
        assert store.builds() == [] and store.read_only
    assert path.stat().st_size == 0
    with SqliteStore(path) as store:  # a writer makes it a store
        store.start(make_record())
    assert path.stat().st_size > 0


def _old_store(path: Path, version: int, row: dict[str, object]) -> None:
    """Write a store of schema `version` holding one build (`row`) and its image ami-1."""
    db = sqlite3.connect(path)
    for step in MIGRATIONS[:version]:
        for statement in step:
            db.execute(statement)
    db.execute(
        f"INSERT INTO builds ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
        tuple(row.values()),
    )
    db.execute(
        "INSERT INTO images (build_id, region, ami_id, snapshot_ids) VALUES (?, ?, ?, ?)",
        (row["build_id"], "us-east-1", "ami-1", '["snap-1"]'),
    )
    db.execute(f"PRAGMA user_version = {version}")
    db.commit()
    db.close()
