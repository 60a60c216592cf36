"""What every lineage store promises (bakery.lineage.store.LineageStore), checked on each store.

Each test runs against SQLite (a file) and DynamoDB (a table in moto). What only one store
does (schema migrations and WAL; pagination, table setup) is tested beside that store.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from bakery.aws.facts import CommandResult, SourceInfo
from bakery.errors import BakeryError
from bakery.lineage.records import (
    Artifact,
    BuildRecord,
    Lease,
    Promotion,
    RegionImage,
    Share,
    SmokeTest,
    Status,
    interrupted_reason,
)
from bakery.lineage.sqlite.store import SqliteStore
from bakery.lineage.store import LineageStore
from tests.support.records import T0, east, failed, make_record, succeeded
from tests.support.stores import another_runner, dynamodb_store, location, moto_gateway, race

NO_SUCH_BUILD = "01HNOSUCHBUILD000000000000"


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LineageStore]:
    if request.param == "sqlite":
        with SqliteStore(tmp_path / "lineage.db") as opened:
            yield opened
    else:
        with moto_gateway(monkeypatch) as gateway, dynamodb_store(gateway) as opened:
            yield opened


@contextmanager
def refused(message: str) -> Iterator[None]:
    """Expect a plain BakeryError (no store-internal subclass leaking out) saying `message`."""
    with pytest.raises(BakeryError) as caught:
        yield
    assert (type(caught.value), str(caught.value)) == (BakeryError, message)


@contextmanager
def runners(store: LineageStore, count: int) -> Iterator[list[LineageStore]]:
    """Open the state of `store` `count` more times, as other runners do; close them after."""
    with ExitStack() as stack:
        yield [stack.enter_context(another_runner(store)) for _ in range(count)]


def ids(records: list[BuildRecord]) -> list[str]:
    return [record.build_id for record in records]


# Builds: start, finish, put, get, builds


def test_start_finish_get_roundtrip_keeps_every_field(store: LineageStore) -> None:
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
    assert store.get(NO_SUCH_BUILD) is None


def test_the_parameters_of_a_build_round_trip(store: LineageStore) -> None:
    parameters = (("arch", "arm64"), ("disk", "20"), ("k8s_version", "1.33"))
    record = make_record(parameters=parameters)
    store.start(record)
    assert store.get(record.build_id) == record
    done = succeeded(record, east("ami-1"))
    store.finish(done)
    assert store.get(record.build_id) == done
    assert store.builds("web") == [done]
    assert store.find_by_ami("ami-1") == done
    assert store.latest_success("web", "us-east-1") == done
    store.put(replacement := replace(done, parameters=(("arch", "x86_64"),)))
    assert store.get(record.build_id) == replacement
    dead = make_record(at=T0 + 1, pid=2, parameters=parameters)
    store.start(dead)
    [marked] = store.mark_interrupted(lambda r: False, "2024-01-02T00:00:00+00:00")
    assert marked.parameters == parameters


def test_a_build_without_parameters_reads_back_none(store: LineageStore) -> None:
    record = make_record()
    store.start(record)
    store.finish(succeeded(record, east("ami-1")))
    found = store.get(record.build_id)
    assert found is not None and found.parameters == ()
    assert [r.parameters for r in store.builds()] == [()]


ARTIFACTS = (
    Artifact("logs/cloud-init.log", "ab" * 32, 20_481),
    Artifact("os-release", "cd" * 32, 0),
    Artifact("sbom.spdx.json", "ef" * 32, 1 << 33),  # sizes past 32 bits
)


def test_the_files_a_build_downloaded_round_trip(store: LineageStore) -> None:
    record = make_record()
    store.start(record)
    done = replace(succeeded(record, east("ami-1")), artifacts=ARTIFACTS)
    store.finish(done)
    assert store.get(record.build_id) == done
    assert store.builds("web") == [done] == store.builds()
    assert store.find_by_ami("ami-1") == done
    assert store.latest_success("web", "us-east-1") == done
    store.put(replacement := replace(done, artifacts=ARTIFACTS[:1]))
    assert store.get(record.build_id) == replacement
    broken = make_record(at=T0 + 1)
    store.start(broken)
    store.finish(kept := replace(failed(broken), artifacts=ARTIFACTS))  # failed: kept too
    assert store.get(broken.build_id) == kept
    dead = make_record(at=T0 + 2, pid=2, artifacts=ARTIFACTS)
    store.start(dead)
    [marked] = store.mark_interrupted(lambda r: False, "2024-01-02T00:00:00+00:00")
    assert marked.artifacts == ARTIFACTS


def test_a_build_that_downloaded_nothing_reads_back_none(store: LineageStore) -> None:
    record = make_record()
    store.start(record)
    store.finish(succeeded(record, east("ami-1")))
    found = store.get(record.build_id)
    assert found is not None and found.artifacts == ()
    assert [r.artifacts for r in store.builds()] == [()]


def test_start_refuses_a_duplicate_build_id(store: LineageStore) -> None:
    record = make_record()
    store.start(record)
    with refused(f"build {record.build_id} is already recorded"):
        store.start(replace(record, host="elsewhere"))
    assert store.get(record.build_id) == record
    store.start(other := make_record(at=T0 + 1))  # the refused write left nothing half done
    assert ids(store.builds()) == [other.build_id, record.build_id]


def test_start_refuses_a_record_that_is_not_running(store: LineageStore) -> None:
    record = succeeded(make_record(), east("ami-1"))
    with refused(f"build {record.build_id} starts as succeeded, not running"):
        store.start(record)
    assert store.get(record.build_id) is None
    assert store.find_by_ami("ami-1") is None


def test_finish_refuses_a_build_that_is_not_running(store: LineageStore) -> None:
    record = make_record()
    store.start(record)
    store.finish(succeeded(record, east("ami-1")))
    with refused(f"build {record.build_id} already ended as succeeded; it cannot finish again"):
        store.finish(record.finished(Status.FAILED, "2024-01-01T11:00:00+00:00", images=()))
    missing = make_record(at=T0 + 1)
    with refused(f"no build {missing.build_id} in the lineage store {location(store)}"):
        store.finish(succeeded(missing, east("ami-2")))
    running = make_record(at=T0 + 2)
    with refused(f"build {running.build_id} cannot finish as running"):
        store.finish(running)
    assert store.builds() == [succeeded(record, east("ami-1"))]
    assert store.find_by_ami("ami-2") is None


def test_put_inserts_and_replaces_whatever_the_status(store: LineageStore) -> None:
    record = succeeded(make_record(), east("ami-1"), RegionImage("eu-west-1", "ami-2"))
    store.put(record)
    assert store.get(record.build_id) == record
    replaced = replace(record, status=Status.CANCELLED, images=(east("ami-3"),))
    store.put(replaced)
    assert store.builds() == [replaced]
    assert store.find_by_ami("ami-3") == replaced
    assert store.find_by_ami("ami-2") is None  # its region is gone from the record
    assert store.find_by_ami("ami-1") is None  # replaced in its region
    assert store.builds(status=Status.SUCCEEDED) == []
    assert store.builds(status=Status.CANCELLED) == [replaced]


def test_builds_are_newest_first_and_filter_by_recipe_and_status(store: LineageStore) -> None:
    old, middle, new = (make_record(at=T0 + i) for i in range(3))
    other = make_record("db", at=T0 + 3)
    for record in (middle, other, new, old):
        store.start(record)
    store.finish(succeeded(middle, east("ami-m")))
    assert ids(store.builds()) == ids([other, new, middle, old])
    assert store.builds("web") == [new, succeeded(middle, east("ami-m")), old]
    assert ids(store.builds("web", Status.RUNNING)) == ids([new, old])
    assert store.builds(status=Status.SUCCEEDED) == [succeeded(middle, east("ami-m"))]
    assert store.builds("db", Status.SUCCEEDED) == []
    assert store.builds("nope") == []


def test_what_one_runner_records_another_reads(store: LineageStore) -> None:
    record = make_record()
    with another_runner(store) as other:
        other.start(record)
        other.finish(succeeded(record, east("ami-1")))
    assert store.get(record.build_id) == succeeded(record, east("ami-1"))


# Queries: latest_success, find_by_ami, children


def test_latest_success_skips_failed_revoked_and_other_region_builds(store: LineageStore) -> None:
    good, revoked, elsewhere, failed = (make_record(at=T0 + i) for i in range(4))
    other_recipe = make_record("db", at=T0 + 4)
    for record in (good, revoked, elsewhere, failed, other_recipe):
        store.start(record)
    store.finish(succeeded(good, east("ami-good")))
    store.finish(succeeded(revoked, east("ami-revoked")))
    store.set_revoked(revoked.build_id, "CVE-2024-1")
    store.finish(succeeded(elsewhere, RegionImage("eu-west-1", "ami-eu")))
    store.finish(failed.finished(Status.FAILED, "2024-01-01T10:01:00+00:00", images=(east("x"),)))
    store.finish(succeeded(other_recipe, east("ami-db")))

    assert store.latest_success("web", "us-east-1") == succeeded(good, east("ami-good"))
    assert store.latest_success("web", "us-east-1", include_revoked=True) == replace(
        succeeded(revoked, east("ami-revoked")), revoked=True, revoked_reason="CVE-2024-1"
    )
    assert store.latest_success("web", "eu-west-1") == store.get(elsewhere.build_id)
    assert store.latest_success("web", "ap-south-1") is None
    assert store.latest_success("nope", "us-east-1") is None


def test_removed_images_stay_recorded_and_no_longer_count_as_latest(store: LineageStore) -> None:
    old, new = make_record(at=T0), make_record(at=T0 + 1)
    store.start(old)
    store.finish(succeeded(old, east("ami-old"), RegionImage("eu-west-1", "ami-old-eu")))
    store.start(new)
    store.finish(succeeded(new, east("ami-new"), RegionImage("eu-west-1", "ami-new-eu")))
    store.mark_removed(["ami-new", "ami-unknown"], "2026-11-26T00:00:00Z")

    assert store.latest_success("web", "us-east-1") == store.get(old.build_id)
    assert store.latest_success("web", "eu-west-1") == store.get(new.build_id)  # still there
    kept = store.get(new.build_id)
    assert kept is not None
    assert kept.images == (
        replace(east("ami-new"), removed_at="2026-11-26T00:00:00Z"),
        RegionImage("eu-west-1", "ami-new-eu"),
    )
    assert store.find_by_ami("ami-new") == kept
    assert store.builds() == [kept, store.get(old.build_id)]


def test_find_by_ami_looks_in_every_region(store: LineageStore) -> None:
    record = make_record()
    store.start(record)
    done = succeeded(record, east("ami-1"), RegionImage("eu-west-1", "ami-2"))
    store.finish(done)
    assert store.find_by_ami("ami-1") == done
    assert store.find_by_ami("ami-2") == done
    assert store.find_by_ami("ami-unknown") is None


def test_children_are_the_builds_made_from_a_build(store: LineageStore) -> None:
    parent = make_record("base", at=T0)
    first, second = make_record(at=T0 + 1, parent=parent.build_id), make_record(at=T0 + 2)
    third = make_record("api", at=T0 + 3, parent=parent.build_id)
    for record in (parent, first, second, third):
        store.start(record)
    store.finish(succeeded(third, east("ami-3")))
    assert store.children(parent.build_id) == [succeeded(third, east("ami-3")), first]
    assert store.children(first.build_id) == []
    assert store.children(NO_SUCH_BUILD) == []


# Changes to recorded builds: mark_interrupted, add_images, mark_removed, set_revoked


def test_mark_interrupted_marks_only_running_builds_whose_process_is_gone(
    store: LineageStore,
) -> None:
    alive, dead, done = (make_record(at=T0 + i, pid=1 + (i > 0)) for i in range(3))
    for record in (alive, dead, done):
        store.start(record)
    store.finish(succeeded(done, east("ami-1")))
    asked: list[BuildRecord] = []

    def is_alive(record: BuildRecord) -> bool:
        asked.append(record)
        return record.pid == 1

    marked = store.mark_interrupted(is_alive, "2024-01-02T00:00:00+00:00")
    assert sorted(ids(asked)) == sorted(ids([alive, dead]))  # only running builds are asked
    reason = interrupted_reason(dead)
    assert reason.startswith(f"interrupted: pid {dead.pid} on {dead.host} ended while it ran")
    assert marked == [dead.finished(Status.INTERRUPTED, "2024-01-02T00:00:00+00:00", error=reason)]
    assert store.get(alive.build_id) == alive
    assert store.get(done.build_id) == succeeded(done, east("ami-1"))
    assert store.builds(status=Status.INTERRUPTED) == marked
    assert store.mark_interrupted(lambda r: r.pid == 1, "2024-01-03T00:00:00+00:00") == []


def test_mark_interrupted_keeps_an_error_already_recorded(store: LineageStore) -> None:
    record = make_record(pid=2, error="interrupted by SIGTERM")
    store.start(record)
    marked = store.mark_interrupted(lambda r: False, "2024-01-02T00:00:00+00:00")
    assert marked == [record.finished(Status.INTERRUPTED, "2024-01-02T00:00:00+00:00")]
    assert marked[0].error == "interrupted by SIGTERM"


def test_mark_interrupted_leaves_a_build_that_finished_after_it_looked(store: LineageStore) -> None:
    record = make_record(pid=2)
    store.start(record)
    done = succeeded(record, east("ami-1"))

    def finishes_meanwhile(found: BuildRecord) -> bool:
        store.finish(done)  # its runner finishes it between the listing and the marking
        return False

    assert store.mark_interrupted(finishes_meanwhile, "2024-01-02T00:00:00+00:00") == []
    assert store.get(record.build_id) == done


def test_add_images_adds_regions_and_replaces_a_region_in_place(store: LineageStore) -> None:
    record = make_record()
    store.start(record)
    store.finish(succeeded(record, east("ami-1")))
    store.add_images(record.build_id, [RegionImage("eu-west-1", "ami-2")])
    store.add_images(record.build_id, [east("ami-9"), RegionImage("ap-south-1", "ami-4")])
    found = store.get(record.build_id)
    assert found is not None
    assert found.images == (
        east("ami-9"),
        RegionImage("eu-west-1", "ami-2"),
        RegionImage("ap-south-1", "ami-4"),
    )
    assert found == succeeded(record, *found.images)
    assert store.find_by_ami("ami-1") is None  # the replaced image no longer leads here
    assert store.find_by_ami("ami-9") == found
    assert store.latest_success("web", "ap-south-1") == found
    with refused(f"no build {NO_SUCH_BUILD} in the lineage store {location(store)}"):
        store.add_images(NO_SUCH_BUILD, [east("ami-3")])
    assert store.find_by_ami("ami-3") is None


def test_set_revoked_records_the_reason(store: LineageStore) -> None:
    record = make_record()
    store.start(record)
    store.set_revoked(record.build_id, "leaked key")
    assert store.get(record.build_id) == replace(record, revoked=True, revoked_reason="leaked key")
    with refused(f"no build {NO_SUCH_BUILD} in the lineage store {location(store)}"):
        store.set_revoked(NO_SUCH_BUILD, "x")
    assert store.get(NO_SUCH_BUILD) is None  # no half record left behind
    assert store.builds() == [replace(record, revoked=True, revoked_reason="leaked key")]


# Promotions, smoke tests, shares


def promotion(recipe: str, channel: str, build_id: str, previous: str | None = None) -> Promotion:
    image = RegionImage("us-east-1", "ami-1")
    return Promotion(recipe, channel, build_id, (image,), "t", "me@host", previous)


def test_promotions_are_newest_first_per_recipe_and_channel(store: LineageStore) -> None:
    added = [
        promotion("web", "dev", "B1"),
        promotion("web", "prod", "B1"),
        promotion("db", "dev", "B7"),
        promotion("web", "dev", "B2", previous="B1"),
        replace(promotion("web", "dev", "B1", previous="B2"), action="rollback", note="from B2"),
    ]
    for item in added:
        store.add_promotion(item)
    assert store.promotions() == added[::-1]
    assert store.promotions("web") == [added[4], added[3], added[1], added[0]]
    assert store.promotions("web", "dev") == [added[4], added[3], added[0]]
    assert store.promotions(channel="dev") == [added[4], added[3], added[2], added[0]]
    assert store.promotions("nope") == []
    assert store.promotions("web", "nope") == []


def test_a_promotion_keeps_the_region_and_ami_of_each_image(store: LineageStore) -> None:
    images = (east("ami-1"), RegionImage("eu-west-1", "ami-2", ("snap-2",), "2026-01-01T00:00Z"))
    store.add_promotion(Promotion("web", "prod", "B1", images, "t", "me@host", action="revoke"))
    assert store.promotions("web", "prod") == [
        Promotion(
            "web",
            "prod",
            "B1",
            (RegionImage("us-east-1", "ami-1"), RegionImage("eu-west-1", "ami-2")),
            "t",
            "me@host",
            action="revoke",
        )
    ]


def test_smoke_tests_are_kept_newest_first_with_their_build(store: LineageStore) -> None:
    record = make_record()
    store.start(record)
    first = SmokeTest(record.build_id, "us-east-1", "ami-1", "t0", "t1", passed=False, error="x")
    second = SmokeTest(
        record.build_id,
        "us-east-1",
        "ami-1",
        "t2",
        "t3",
        passed=True,
        instance_id="i-1",
        commands=(CommandResult("true", "Success", 0, "ok"), CommandResult("x", "TimedOut", None)),
    )
    other = SmokeTest("01HOTHERBUILD0000000000000", "eu-west-1", "ami-2", "t4", "t5", passed=True)
    for result in (first, other, second):
        store.add_smoke_test(result)
    assert store.smoke_tests(record.build_id) == [second, first]
    assert store.smoke_tests(other.build_id) == [other]
    assert store.smoke_tests(NO_SUCH_BUILD) == []
    assert store.get(record.build_id) == record  # tests are not images


def test_shares_are_one_per_account_in_account_order(store: LineageStore) -> None:
    record = make_record()
    store.start(record)
    for account in ("222233334444", "111122223333", "222233334444"):
        store.add_share(Share(record.build_id, account, "t", "me"))
    store.add_share(Share("01HOTHERBUILD0000000000000", "999988887777", "t", "me"))
    assert store.shares(record.build_id) == [
        Share(record.build_id, "111122223333", "t", "me"),
        Share(record.build_id, "222233334444", "t", "me"),
    ]
    assert store.shares(NO_SUCH_BUILD) == []
    assert store.get(record.build_id) == record  # shares are not images


# Leases


def test_leases_are_acquired_renewed_released_and_taken_over(store: LineageStore) -> None:
    assert store.lease("web") is None
    lease = store.acquire_lease("web", "ghost", 10, now=1000.5)
    assert lease == Lease("web", "ghost", 1000.5, 1010.5, None)
    assert store.lease("web") == lease
    assert store.acquire_lease("web", "me", 10, now=1005.0) is None  # still held
    assert store.renew_lease("web", "ghost", 10, now=1006.0)
    assert store.lease("web") == Lease("web", "ghost", 1000.5, 1016.0, None)
    assert store.acquire_lease("web", "me", 10, now=1015.0) is None  # renewed until 1016
    taken = store.acquire_lease("web", "me", 10, now=1016.0)
    assert taken == Lease("web", "me", 1016.0, 1026.0, took_over_from="ghost")
    assert store.lease("web") == taken
    assert not store.renew_lease("web", "ghost", 10, now=1017.0)
    store.release_lease("web", "ghost")  # not ghost's any more: nothing happens
    assert store.lease("web") == taken
    again = store.acquire_lease("web", "me", 10, now=1018.0)  # its holder takes it afresh
    assert again == Lease("web", "me", 1018.0, 1028.0, None)
    store.release_lease("web", "me")
    assert store.lease("web") is None
    assert not store.renew_lease("web", "me", 10, now=1019.0)
    assert store.acquire_lease("web", "ghost", 10, now=1020.0) == Lease(
        "web", "ghost", 1020.0, 1030.0, None
    )


def test_an_expired_lease_is_its_holders_until_another_takes_it(store: LineageStore) -> None:
    assert store.acquire_lease("web", "slow", 10, now=0.0)
    assert store.lease("web") == Lease("web", "slow", 0.0, 10.0)  # expired or not
    assert store.renew_lease("web", "slow", 10, now=50.0)  # late, but nobody took it
    assert store.lease("web") == Lease("web", "slow", 0.0, 60.0)
    assert store.acquire_lease("web", "me", 10, now=55.0) is None


def test_a_live_lease_is_taken_over_only_from_the_holder_named_gone(store: LineageStore) -> None:
    assert store.acquire_lease("web", "vm:1:0:a", 60, T0) is not None
    assert store.acquire_lease("web", "vm:2:0:b", 60, T0 + 1, gone="vm:9:0:z") is None
    taken = store.acquire_lease("web", "vm:2:0:b", 60, T0 + 1, gone="vm:1:0:a")
    assert taken == Lease("web", "vm:2:0:b", T0 + 1, T0 + 61, took_over_from="vm:1:0:a")
    assert store.lease("web") == taken
    # the one it was taken from can no longer renew or take it back as gone's
    assert not store.renew_lease("web", "vm:1:0:a", 60, T0 + 2)
    assert store.acquire_lease("web", "vm:3:0:c", 60, T0 + 2, gone="vm:1:0:a") is None


def test_a_lease_is_per_recipe(store: LineageStore) -> None:
    web = store.acquire_lease("web", "me", 10, now=0.0)
    db = store.acquire_lease("db", "you", 10, now=1.0)
    assert (web, db) == (Lease("web", "me", 0.0, 10.0), Lease("db", "you", 1.0, 11.0))
    store.release_lease("db", "you")
    assert (store.lease("web"), store.lease("db")) == (web, None)
    assert not store.renew_lease("db", "me", 10, now=2.0)


# Runners at the same time


def test_two_runners_starting_one_build_id_one_fails_cleanly(store: LineageStore) -> None:
    record = make_record()
    with runners(store, 2) as others:
        results, errors = race(2, lambda i: others[i].start(replace(record, host=f"runner-{i}")))
    assert len(results) == 1
    assert [(type(e), str(e)) for e in errors] == [
        (BakeryError, f"build {record.build_id} is already recorded")
    ]
    (found,) = store.builds()
    assert found.host in ("runner-0", "runner-1") and found == replace(record, host=found.host)


def test_two_runners_finishing_one_build_one_fails_cleanly(store: LineageStore) -> None:
    record = make_record()
    store.start(record)
    ends = [
        succeeded(record, east("ami-0")),
        record.finished(Status.CANCELLED, "2024-01-01T10:06:00+00:00", images=(east("ami-1"),)),
    ]
    with runners(store, 2) as others:
        results, errors = race(2, lambda i: others[i].finish(ends[i]))
    assert len(results) == 1 and len(errors) == 1
    winner = store.get(record.build_id)
    assert winner is not None and winner in ends
    assert (type(errors[0]), str(errors[0])) == (
        BakeryError,
        f"build {record.build_id} already ended as {winner.status}; it cannot finish again",
    )
    loser = ends[1 - ends.index(winner)]
    assert store.find_by_ami(loser.images[0].ami_id) is None


def test_eight_threads_sharing_a_store_lose_no_write(store: LineageStore) -> None:
    def work(worker: int) -> None:
        for index in range(5):
            record = make_record(f"r{worker}", at=T0 + index)
            store.start(record)
            store.builds(f"r{worker}")
            store.finish(succeeded(record, east(f"ami-{worker}-{index}")))
            store.add_promotion(promotion(f"r{worker}", "dev", record.build_id))

    _, errors = race(8, work)
    assert errors == []
    records = store.builds(status=Status.SUCCEEDED)
    assert len(records) == 8 * 5 and len({r.ami_ids[0] for r in records}) == 8 * 5
    assert store.builds(status=Status.RUNNING) == []
    for worker in range(8):  # each runner's promotions in the order it made them
        made = [r.build_id for r in records if r.recipe == f"r{worker}"]
        assert [p.build_id for p in store.promotions(f"r{worker}")] == made


def test_only_one_of_many_racing_runners_gets_the_lease(store: LineageStore) -> None:
    with runners(store, 6) as others:
        results, errors = race(6, lambda i: others[i].acquire_lease("web", f"r{i}", 60, 1000.0))
    assert errors == []
    won = [lease for lease in results if lease is not None]
    assert len(won) == 1 and store.lease("web") == won[0]
    assert won[0] == Lease("web", won[0].holder, 1000.0, 1060.0, None)


def test_only_one_of_many_runners_takes_over_an_expired_lease(store: LineageStore) -> None:
    assert store.acquire_lease("web", "ghost", 10, now=0.0)
    with runners(store, 6) as others:
        results, errors = race(6, lambda i: others[i].acquire_lease("web", f"r{i}", 60, 1000.0))
    assert errors == []
    won = [lease for lease in results if lease is not None]
    assert len(won) == 1 and store.lease("web") == won[0]
    assert won[0] == Lease("web", won[0].holder, 1000.0, 1060.0, took_over_from="ghost")


def test_a_store_that_takes_writes_says_so_before_anything_is_changed(store: LineageStore) -> None:
    store.check_writable()
    assert store.builds() == []  # the check wrote nothing
