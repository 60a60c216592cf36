from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from dataclasses import replace
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from bakery.aws.facts import SourceInfo
from bakery.errors import BakeryError
from bakery.lineage.records import BuildRecord, RegionImage, Status, new_build_id
from bakery.lineage.sqlite.store import SCHEMA_VERSION, SqliteStore
from tests.support.records import T0, east, make_record, succeeded


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "lineage.db")


def test_start_finish_get_roundtrip_keeps_every_field(store: SqliteStore) -> None:
    record = make_record(
        source=SourceInfo(
            kind="ssm_parameter",
            reference="/aws/service/al2023",
            resolved_ami="ami-src",
            ssm_version=7,
            owner="amazon",
            product_codes=("pc-1", "pc-2"),
        ),
        parent_build_id="01HPARENT0000000000000000",
        packer_version="1.11.2",
        git_commit="c0ffee",
        git_dirty=True,
        template_sha256="cd" * 32,
        log_path=".bakery/logs/web.log",
        pid=4242,
        host="builder-1",
    )
    store.start(record)
    assert store.get(record.build_id) == record
    done = record.finished(
        Status.FAILED,
        "2024-01-01T10:07:00+00:00",
        error="packer exited 1",
        images=(east("ami-1"), RegionImage("eu-west-1", "ami-2", ("snap-a", "snap-b"))),
        revoked=True,
        revoked_reason="bad kernel",
    )
    store.finish(done)
    assert store.get(record.build_id) == done
    assert store.get("01HNOSUCHBUILD000000000000") is None


def test_start_refuses_a_duplicate_build_id(store: SqliteStore) -> None:
    record = make_record()
    store.start(record)
    with pytest.raises(BakeryError, match="already recorded"):
        store.start(record)
    store.start(make_record(at=T0 + 1))  # the failed transaction was rolled back
    assert len(store.builds()) == 2


def test_finish_refuses_a_build_that_is_not_running(store: SqliteStore) -> None:
    record = make_record()
    store.start(record)
    store.finish(succeeded(record, east("ami-1")))
    with pytest.raises(BakeryError, match="already ended as succeeded; it cannot finish again"):
        store.finish(record.finished(Status.FAILED, "2024-01-01T11:00:00+00:00"))
    with pytest.raises(BakeryError, match="no build"):
        store.finish(succeeded(make_record(at=T0 + 1)))
    with pytest.raises(BakeryError, match="cannot finish as running"):
        store.finish(make_record(at=T0 + 2))
    assert store.get(record.build_id) == succeeded(record, east("ami-1"))


def test_put_inserts_and_replaces_whatever_the_status(store: SqliteStore) -> None:
    record = succeeded(make_record(), east("ami-1"), RegionImage("eu-west-1", "ami-2"))
    store.put(record)
    replaced = replace(record, status=Status.CANCELLED, images=(east("ami-3"),))
    store.put(replaced)
    assert store.builds() == [replaced]
    assert store.find_by_ami("ami-2") is None


def test_builds_are_newest_first_and_filter_by_recipe_and_status(store: SqliteStore) -> None:
    old, middle, new = (make_record(at=T0 + i) for i in range(3))
    other = make_record("db", at=T0 + 3)
    for record in (middle, other, new, old):
        store.start(record)
    store.finish(succeeded(middle, east("ami-m")))
    assert [r.build_id for r in store.builds()] == [r.build_id for r in (other, new, middle, old)]
    assert [r.build_id for r in store.builds("web")] == [r.build_id for r in (new, middle, old)]
    assert [r.build_id for r in store.builds("web", Status.RUNNING)] == [new.build_id, old.build_id]
    assert [r.build_id for r in store.builds(status=Status.SUCCEEDED)] == [middle.build_id]


def test_latest_success_skips_failed_revoked_and_other_region_builds(store: SqliteStore) -> None:
    good = make_record(at=T0)
    revoked = make_record(at=T0 + 1)
    elsewhere = make_record(at=T0 + 2)
    failed = make_record(at=T0 + 3)
    other_recipe = make_record("db", at=T0 + 4)
    for record in (good, revoked, elsewhere, failed, other_recipe):
        store.start(record)
    store.finish(succeeded(good, east("ami-good")))
    store.finish(succeeded(revoked, east("ami-revoked")))
    store.set_revoked(revoked.build_id, "CVE-2024-1")
    store.finish(succeeded(elsewhere, RegionImage("eu-west-1", "ami-eu")))
    store.finish(failed.finished(Status.FAILED, "2024-01-01T10:01:00+00:00", images=(east("x"),)))
    store.finish(succeeded(other_recipe, east("ami-db")))

    assert store.latest_success("web", "us-east-1") == store.get(good.build_id)
    latest = store.latest_success("web", "us-east-1", include_revoked=True)
    assert latest is not None
    assert (latest.build_id, latest.revoked_reason) == (revoked.build_id, "CVE-2024-1")
    assert store.latest_success("web", "eu-west-1") == store.get(elsewhere.build_id)
    assert store.latest_success("web", "ap-south-1") is None
    assert store.latest_success("nope", "us-east-1") is None


def test_find_by_ami_looks_in_every_region(store: SqliteStore) -> None:
    record = make_record()
    store.start(record)
    store.finish(succeeded(record, east("ami-1"), RegionImage("eu-west-1", "ami-2")))
    found = store.find_by_ami("ami-2")
    assert found is not None and found.build_id == record.build_id
    assert store.find_by_ami("ami-unknown") is None


def test_children_are_the_builds_made_from_a_build(store: SqliteStore) -> None:
    parent = make_record("base", at=T0)
    first, second = make_record(at=T0 + 1, parent=parent.build_id), make_record(at=T0 + 2)
    for record in (parent, first, second):
        store.start(record)
    assert store.children(parent.build_id) == [first]
    assert store.children(first.build_id) == []


def test_mark_abandoned_marks_only_running_builds_whose_process_is_gone(
    store: SqliteStore,
) -> None:
    alive = make_record(at=T0, pid=1)
    dead = make_record(at=T0 + 1, pid=2)
    done = make_record(at=T0 + 2, pid=2)
    for record in (alive, dead, done):
        store.start(record)
    store.finish(succeeded(done, east("ami-1")))
    marked = store.mark_abandoned(lambda r: r.pid == 1, "2024-01-02T00:00:00+00:00")
    assert [r.build_id for r in marked] == [dead.build_id]
    assert marked[0].status is Status.ABANDONED
    assert marked[0].ended_at == "2024-01-02T00:00:00+00:00"
    assert marked[0].error is not None
    assert store.get(alive.build_id) == alive
    assert store.mark_abandoned(lambda r: r.pid == 1, "2024-01-03T00:00:00+00:00") == []


def test_add_images_adds_regions_and_replaces_a_region_in_place(store: SqliteStore) -> None:
    record = make_record()
    store.start(record)
    store.finish(succeeded(record, east("ami-1")))
    store.add_images(record.build_id, [RegionImage("eu-west-1", "ami-2")])
    store.add_images(record.build_id, [east("ami-9")])
    found = store.get(record.build_id)
    assert found is not None
    assert found.images == (east("ami-9"), RegionImage("eu-west-1", "ami-2"))
    with pytest.raises(BakeryError, match="no build"):
        store.add_images("01HNOSUCHBUILD000000000000", [east("ami-3")])


def test_set_revoked_records_the_reason(store: SqliteStore) -> None:
    record = make_record()
    store.start(record)
    store.set_revoked(record.build_id, "leaked key")
    found = store.get(record.build_id)
    assert found is not None and (found.revoked, found.revoked_reason) == (True, "leaked key")
    with pytest.raises(BakeryError, match="no build"):
        store.set_revoked("01HNOSUCHBUILD000000000000", "x")


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


def test_eight_threads_sharing_a_store_lose_no_write(store: SqliteStore) -> None:
    threads = [
        threading.Thread(target=_write_builds_shared, args=(store, worker, 25))
        for worker in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = store.builds(status=Status.SUCCEEDED)
    assert len(records) == 8 * 25
    assert len({r.ami_ids[0] for r in records}) == 8 * 25


def _write_builds_shared(store: SqliteStore, worker: int, count: int) -> None:
    for index in range(count):
        record = make_record(f"r{worker}", at=T0 + index)
        store.start(record)
        store.builds(f"r{worker}")
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


def test_removed_images_stay_recorded_and_no_longer_count_as_latest(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "db") as store:
        builds = []
        for ami in ("ami-old", "ami-new"):
            record = BuildRecord(
                new_build_id(),
                "web",
                "1.0.0",
                "app",
                Status.RUNNING,
                "t",
                "h",
                SourceInfo("ami", "a", "a"),
                "us-east-1",
            )
            store.start(record)
            store.finish(
                record.finished(Status.SUCCEEDED, "t", images=(RegionImage("us-east-1", ami),))
            )
            builds.append(record.build_id)
        store.mark_removed(["ami-new"], "2026-11-26T00:00:00Z")
        latest = store.latest_success("web", "us-east-1")
        assert latest is not None and latest.build_id == builds[0]
        kept = store.get(builds[1])
        assert kept is not None and kept.images[0].removed_at == "2026-11-26T00:00:00Z"
