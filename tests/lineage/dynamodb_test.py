from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from bakery.aws.facts import CommandResult, SourceInfo
from bakery.aws.session import AwsSettings, Gateway
from bakery.cli import main
from bakery.errors import BakeryError
from bakery.lineage.dynamodb.setup import ensure_table
from bakery.lineage.dynamodb.store import DynamoStore
from bakery.lineage.records import Lease, Promotion, RegionImage, Share, SmokeTest, Status
from bakery.lineage.store import open_store
from tests.support.project import ProjectFactory
from tests.support.records import T0, east, make_record, succeeded

TABLE = "bakery-lineage"


@pytest.fixture(autouse=True)
def _atomic_dynamodb(monkeypatch: pytest.MonkeyPatch) -> None:
    """Serialise moto's DynamoDB requests, as DynamoDB serialises the writes to one item.

    moto evaluates a ConditionExpression and then writes, with nothing keeping threads apart in
    between (moto/dynamodb/models/table.py, put_item), so two racing conditional writes could
    both pass there; on DynamoDB they cannot. The races below test bakery's conditions, not that.
    """
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.Lock()
    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with lock:
            return original(self)

    monkeypatch.setattr(DynamoHandler, "call_action", call_action)


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    with mock_aws():
        yield Gateway(AwsSettings("us-east-1"))


@pytest.fixture
def store(gateway: Gateway) -> DynamoStore:
    ensure_table(gateway, TABLE)
    return DynamoStore(TABLE, gateway)


def runner(gateway: Gateway) -> DynamoStore:
    """Return a store with a session of its own, as another runner on another machine has."""
    return DynamoStore(TABLE, Gateway(gateway.settings))


def test_start_finish_get_roundtrip_keeps_every_field(store: DynamoStore) -> None:
    record = make_record(
        source=SourceInfo("ssm_parameter", "/aws/service/al2023", "ami-src", 7, "amazon", ("p",)),
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


def test_start_refuses_a_duplicate_build_id(store: DynamoStore) -> None:
    record = make_record()
    store.start(record)
    with pytest.raises(BakeryError, match="already recorded"):
        store.start(record)
    store.start(make_record(at=T0 + 1))
    assert len(store.builds()) == 2


def test_finish_refuses_a_build_that_is_not_running(store: DynamoStore) -> None:
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


def test_put_inserts_and_replaces_whatever_the_status(store: DynamoStore) -> None:
    record = succeeded(make_record(), east("ami-1"), RegionImage("eu-west-1", "ami-2"))
    store.put(record)
    replaced = replace(record, status=Status.CANCELLED, images=(east("ami-3"),))
    store.put(replaced)
    assert store.builds() == [replaced]
    assert store.find_by_ami("ami-2") is None
    assert store.find_by_ami("ami-1") is None
    assert store.builds(status=Status.SUCCEEDED) == []
    assert store.builds(status=Status.CANCELLED) == [replaced]


def test_builds_are_newest_first_and_filter_by_recipe_and_status(store: DynamoStore) -> None:
    old, middle, new = (make_record(at=T0 + i) for i in range(3))
    other = make_record("db", at=T0 + 3)
    for record in (middle, other, new, old):
        store.start(record)
    store.finish(succeeded(middle, east("ami-m")))
    assert [r.build_id for r in store.builds()] == [r.build_id for r in (other, new, middle, old)]
    assert [r.build_id for r in store.builds("web")] == [r.build_id for r in (new, middle, old)]
    assert [r.build_id for r in store.builds("web", Status.RUNNING)] == [new.build_id, old.build_id]
    assert store.builds(status=Status.SUCCEEDED) == [succeeded(middle, east("ami-m"))]
    assert store.builds("web") == [store.get(r.build_id) for r in (new, middle, old)]


def test_listings_read_every_page(store: DynamoStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("moto.dynamodb.models.table.RESULT_SIZE_LIMIT", 3000)  # not 1 MB
    records = [make_record(at=T0 + i, log_path="x" * 500) for i in range(12)]
    for record in records:
        store.start(record)
        store.finish(succeeded(record, east(f"ami-{record.build_id}")))
    newest_first = [r.build_id for r in reversed(records)]
    assert [r.build_id for r in store.builds()] == newest_first
    assert [r.build_id for r in store.builds("web")] == newest_first
    assert [r.build_id for r in store.builds(status=Status.SUCCEEDED)] == newest_first
    assert all(len(r.images) == 1 for r in store.builds("web"))


def test_latest_success_skips_failed_revoked_and_other_region_builds(store: DynamoStore) -> None:
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

    assert store.latest_success("web", "us-east-1") == store.get(good.build_id)
    latest = store.latest_success("web", "us-east-1", include_revoked=True)
    assert latest is not None
    assert (latest.build_id, latest.revoked_reason) == (revoked.build_id, "CVE-2024-1")
    assert store.latest_success("web", "eu-west-1") == store.get(elsewhere.build_id)
    assert store.latest_success("web", "ap-south-1") is None
    assert store.latest_success("nope", "us-east-1") is None


def test_removed_images_stay_recorded_and_no_longer_count_as_latest(store: DynamoStore) -> None:
    old, new = make_record(at=T0), make_record(at=T0 + 1)
    for record, ami in ((old, "ami-old"), (new, "ami-new")):
        store.start(record)
        store.finish(succeeded(record, east(ami)))
    store.mark_removed(["ami-new", "ami-unknown"], "2026-11-26T00:00:00Z")
    latest = store.latest_success("web", "us-east-1")
    assert latest is not None and latest.build_id == old.build_id
    kept = store.get(new.build_id)
    assert kept is not None and kept.images[0].removed_at == "2026-11-26T00:00:00Z"
    assert store.find_by_ami("ami-new") == kept


def test_find_by_ami_looks_in_every_region(store: DynamoStore) -> None:
    record = make_record()
    store.start(record)
    store.finish(succeeded(record, east("ami-1"), RegionImage("eu-west-1", "ami-2")))
    found = store.find_by_ami("ami-2")
    assert found is not None and found.build_id == record.build_id
    assert store.find_by_ami("ami-unknown") is None


def test_children_are_the_builds_made_from_a_build(store: DynamoStore) -> None:
    parent = make_record("base", at=T0)
    first, second = make_record(at=T0 + 1, parent=parent.build_id), make_record(at=T0 + 2)
    third = make_record(at=T0 + 3, parent=parent.build_id)
    for record in (parent, first, second, third):
        store.start(record)
    store.finish(succeeded(third, east("ami-3")))
    assert store.children(parent.build_id) == [succeeded(third, east("ami-3")), first]
    assert store.children(first.build_id) == []


def test_mark_abandoned_marks_only_running_builds_whose_process_is_gone(
    store: DynamoStore,
) -> None:
    alive, dead, done = (make_record(at=T0 + i, pid=1 + (i > 0)) for i in range(3))
    for record in (alive, dead, done):
        store.start(record)
    store.finish(succeeded(done, east("ami-1")))
    marked = store.mark_abandoned(lambda r: r.pid == 1, "2024-01-02T00:00:00+00:00")
    assert [r.build_id for r in marked] == [dead.build_id]
    assert marked[0].status is Status.ABANDONED
    assert marked[0].ended_at == "2024-01-02T00:00:00+00:00"
    assert marked[0].error == "the bakery process running it is gone"
    assert store.get(alive.build_id) == alive
    assert store.builds(status=Status.ABANDONED) == marked
    assert store.mark_abandoned(lambda r: r.pid == 1, "2024-01-03T00:00:00+00:00") == []


def test_add_images_adds_regions_and_replaces_a_region_in_place(store: DynamoStore) -> None:
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
    assert store.find_by_ami("ami-1") is None  # the replaced image no longer leads here
    assert store.find_by_ami("ami-9") == found
    with pytest.raises(BakeryError, match="no build"):
        store.add_images("01HNOSUCHBUILD000000000000", [east("ami-3")])


def test_set_revoked_records_the_reason(store: DynamoStore) -> None:
    record = make_record()
    store.start(record)
    store.set_revoked(record.build_id, "leaked key")
    found = store.get(record.build_id)
    assert found is not None and (found.revoked, found.revoked_reason) == (True, "leaked key")
    with pytest.raises(BakeryError, match="no build 01HNOSUCHBUILD000000000000 in the lineage"):
        store.set_revoked("01HNOSUCHBUILD000000000000", "x")
    assert store.get("01HNOSUCHBUILD000000000000") is None  # no half item left behind


def promotion(recipe: str, channel: str, build_id: str, previous: str | None = None) -> Promotion:
    image = RegionImage("us-east-1", "ami-1")  # a promotion keeps region and AMI only
    return Promotion(recipe, channel, build_id, (image,), "t", "me@host", previous)


def test_promotions_are_newest_first_per_recipe_and_channel(store: DynamoStore) -> None:
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


def test_smoke_tests_and_shares_are_kept_with_their_build(store: DynamoStore) -> None:
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
    store.add_smoke_test(first)
    store.add_smoke_test(second)
    assert store.smoke_tests(record.build_id) == [second, first]
    assert store.smoke_tests("other") == []
    for account in ("222233334444", "111122223333", "222233334444"):
        store.add_share(Share(record.build_id, account, "t", "me"))
    assert store.shares(record.build_id) == [
        Share(record.build_id, "111122223333", "t", "me"),
        Share(record.build_id, "222233334444", "t", "me"),
    ]
    assert store.get(record.build_id) == record  # tests and shares are not images


def test_leases_are_acquired_renewed_released_and_taken_over(store: DynamoStore) -> None:
    assert store.lease("web") is None
    lease = store.acquire_lease("web", "ghost", 10, now=1000.5)
    assert lease is not None and store.lease("web") == lease
    assert (lease.acquired_at, lease.expires_at, lease.took_over_from) == (1000.5, 1010.5, None)
    assert store.acquire_lease("web", "me", 10, now=1005.0) is None  # still held
    assert store.renew_lease("web", "ghost", 10, now=1006.0)
    assert store.acquire_lease("web", "me", 10, now=1015.0) is None  # renewed until 1016
    taken = store.acquire_lease("web", "me", 10, now=1016.0)
    assert taken is not None and taken.took_over_from == "ghost"
    assert store.lease("web") == taken
    assert not store.renew_lease("web", "ghost", 10, now=1017.0)
    store.release_lease("web", "ghost")  # not ghost's any more: nothing happens
    assert store.lease("web") == taken
    again = store.acquire_lease("web", "me", 10, now=1018.0)
    assert again is not None and again.took_over_from is None
    store.release_lease("web", "me")
    assert store.lease("web") is None
    assert not store.renew_lease("web", "me", 10, now=1019.0)


def race(count: int, attempt: Callable[[int], object]) -> tuple[list[object], list[Exception]]:
    """Run `attempt(i)` in `count` threads released at once; return results and errors."""
    barrier = threading.Barrier(count)
    results: list[object] = []
    errors: list[Exception] = []

    def run(index: int) -> None:
        barrier.wait()
        try:
            results.append(attempt(index))
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


class ReadsTogether(DynamoStore):
    """A runner whose first look at a lease waits until every runner has looked: each then
    decides on the same state, the worst interleaving for a read-then-write."""

    def __init__(self, gateway: Gateway, looked: threading.Barrier) -> None:
        super().__init__(TABLE, Gateway(gateway.settings))
        self.looked: threading.Barrier | None = looked

    def lease(self, recipe: str) -> Lease | None:
        found = super().lease(recipe)
        if self.looked is not None:
            self.looked.wait(timeout=30)
            self.looked = None
        return found


def test_only_one_of_many_racing_runners_gets_the_lease(
    store: DynamoStore, gateway: Gateway
) -> None:
    looked = threading.Barrier(6)
    stores = [ReadsTogether(gateway, looked) for _ in range(6)]
    results, errors = race(6, lambda i: stores[i].acquire_lease("web", f"r{i}", 60, 1000.0))
    assert errors == []
    won = [lease for lease in results if lease is not None]
    assert len(won) == 1 and store.lease("web") == won[0]


def test_only_one_of_many_runners_takes_over_an_expired_lease(
    store: DynamoStore, gateway: Gateway
) -> None:
    assert store.acquire_lease("web", "ghost", 10, now=0.0)
    looked = threading.Barrier(6)
    stores = [ReadsTogether(gateway, looked) for _ in range(6)]
    results, errors = race(6, lambda i: stores[i].acquire_lease("web", f"r{i}", 60, 1000.0))
    assert errors == []
    won = [lease for lease in results if isinstance(lease, Lease)]
    assert len(won) == 1 and won[0].took_over_from == "ghost" and store.lease("web") == won[0]


def test_two_runners_starting_one_build_id_one_fails_cleanly(
    store: DynamoStore, gateway: Gateway
) -> None:
    record = make_record()
    stores = [runner(gateway) for _ in range(2)]
    results, errors = race(2, lambda i: stores[i].start(replace(record, host=f"runner-{i}")))
    assert len(results) == 1
    assert [type(e) for e in errors] == [BakeryError]
    assert str(errors[0]) == f"build {record.build_id} is already recorded"
    assert len(store.builds()) == 1


def test_eight_threads_sharing_a_store_lose_no_write(store: DynamoStore) -> None:
    def work(worker: int) -> None:
        for index in range(5):
            record = make_record(f"r{worker}", at=T0 + index)
            store.start(record)
            store.builds(f"r{worker}")
            store.finish(succeeded(record, east(f"ami-{worker}-{index}")))

    _, errors = race(8, work)
    assert errors == []
    records = store.builds(status=Status.SUCCEEDED)
    assert len(records) == 8 * 5 and len({r.ami_ids[0] for r in records}) == 8 * 5


def test_a_missing_table_says_to_run_state_init(gateway: Gateway) -> None:
    with pytest.raises(BakeryError, match=r"table nope does not exist in us-east-1; .*state init"):
        DynamoStore("nope", gateway).get("01HNOSUCHBUILD000000000000")


def test_open_store_opens_a_dynamodb_url_in_its_region(gateway: Gateway, tmp_path: Path) -> None:
    ensure_table(Gateway(AwsSettings("eu-west-1")), TABLE)
    with open_store(f"dynamodb://{TABLE}?region=eu-west-1", tmp_path) as opened:
        assert isinstance(opened, DynamoStore) and opened.table.region == "eu-west-1"
        opened.start(make_record())
        assert len(opened.builds()) == 1
    with open_store(f"dynamodb://{TABLE}", tmp_path, region="ap-south-1") as default:
        assert isinstance(default, DynamoStore) and default.table.region == "ap-south-1"


@pytest.mark.parametrize(
    "url", ["dynamodb://", "dynamodb://a", "dynamodb://t/x", "dynamodb://tab?zone=1"]
)
def test_open_store_refuses_a_malformed_dynamodb_url(tmp_path: Path, url: str) -> None:
    with pytest.raises(BakeryError, match="not a DynamoDB store URL; use dynamodb://TABLE"):
        open_store(url, tmp_path)


def test_state_init_creates_the_table_once_with_point_in_time_recovery(
    gateway: Gateway, make_project: ProjectFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_project({}, f"aws: {{region: eu-west-1}}\nstate: dynamodb://{TABLE}\n")
    assert main(["-C", str(root), "state", "init"]) == 0
    assert capsys.readouterr().out.startswith(f"created DynamoDB table {TABLE} in eu-west-1")
    assert main(["-C", str(root), "state", "init"]) == 0
    assert capsys.readouterr().out.startswith(f"already exists: DynamoDB table {TABLE}")
    client = Gateway(AwsSettings("eu-west-1")).client("dynamodb")
    table = client.describe_table(TableName=TABLE)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {i["IndexName"] for i in table["GlobalSecondaryIndexes"]} == {"GSI1", "GSI2", "GSI3"}
    backups = client.describe_continuous_backups(TableName=TABLE)["ContinuousBackupsDescription"]
    pitr = backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"]
    assert pitr == "ENABLED"


def test_state_init_refuses_a_table_of_another_shape(gateway: Gateway) -> None:
    gateway.client("dynamodb").create_table(
        TableName="other",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    with pytest.raises(BakeryError, match="exists but is not a bakery lineage table"):
        ensure_table(gateway, "other")


def test_state_init_of_a_sqlite_store_needs_nothing(
    make_project: ProjectFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_project({})
    assert main(["-C", str(root), "state", "init"]) == 0
    assert "a SQLite store needs no setup" in capsys.readouterr().out
