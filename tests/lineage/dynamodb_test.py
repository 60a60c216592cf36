"""What only the DynamoDB store does: read every page, decide a lease by compare-and-swap,
need its table made by `bakery state init`, open from a dynamodb:// URL.

What every store promises is checked on this one too, in store_contract_test.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from bakery.aws.session import AwsSettings, Gateway
from bakery.cli import main
from bakery.errors import BakeryError
from bakery.lineage.artifacts import MAX_ARTIFACTS, MAX_NAME_BYTES
from bakery.lineage.dynamodb import items
from bakery.lineage.dynamodb.setup import ensure_table
from bakery.lineage.dynamodb.store import DynamoStore
from bakery.lineage.records import Artifact, Lease, Status
from bakery.lineage.store import open_store
from tests.support.project import ProjectFactory
from tests.support.records import T0, east, make_record, succeeded
from tests.support.stores import TABLE, dynamodb_store, moto_gateway, race


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    with moto_gateway(monkeypatch) as gateway:
        yield gateway


@pytest.fixture
def store(gateway: Gateway) -> DynamoStore:
    return dynamodb_store(gateway)


def test_parameters_are_a_map_attribute_left_out_when_a_build_used_none() -> None:
    plain = items.build_item(make_record())
    assert "parameters" not in plain
    used = items.build_item(make_record(parameters=(("arch", "arm64"), ("disk", "20"))))
    assert used["parameters"] == {"M": {"arch": {"S": "arm64"}, "disk": {"S": "20"}}}
    assert items.build_record(items.plain(plain), ()).parameters == ()  # as items before it


def test_artifacts_are_a_list_of_maps_left_out_when_a_build_downloaded_none() -> None:
    plain = items.build_item(make_record())
    assert "artifacts" not in plain
    kept = (Artifact("sbom.json", "ab" * 32, 17), Artifact("logs/a.log", "cd" * 32, 0))
    used = items.build_item(make_record(artifacts=kept))
    assert used["artifacts"] == {
        "L": [
            {"M": {"name": {"S": "sbom.json"}, "sha256": {"S": "ab" * 32}, "size": {"N": "17"}}},
            {"M": {"name": {"S": "logs/a.log"}, "sha256": {"S": "cd" * 32}, "size": {"N": "0"}}},
        ]
    }
    assert items.build_record(items.plain(used), ()).artifacts == kept
    assert items.build_record(items.plain(plain), ()).artifacts == ()  # as items before it


def test_the_most_files_a_record_keeps_fit_in_one_item(store: DynamoStore) -> None:
    # An item holds 400 KB (moto checks it too): the caps of bakery.lineage.artifacts keep
    # the biggest listing, with long names and sizes past 2**40, well inside.
    width = MAX_NAME_BYTES // MAX_ARTIFACTS
    kept = tuple(
        Artifact(f"{i:04}".ljust(width, "x"), "ab" * 32, 1 << 40) for i in range(MAX_ARTIFACTS)
    )
    assert sum(len(a.name) for a in kept) <= MAX_NAME_BYTES
    record = make_record()
    store.start(record)
    done = replace(succeeded(record, east("ami-1")), artifacts=kept, error="e" * 8192)
    store.finish(done)
    assert store.get(record.build_id) == done


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


def test_a_status_listing_keeps_only_what_the_table_says_now(
    store: DynamoStore, gateway: Gateway
) -> None:
    record = make_record()
    store.start(record)
    store.finish(succeeded(record, east("ami-1")))
    # GSI3 is eventually consistent: play an index entry that still says "running".
    gateway.client("dynamodb").update_item(
        TableName=TABLE,
        Key={"PK": {"S": f"BUILD#{record.build_id}"}, "SK": {"S": "BUILD"}},
        UpdateExpression="SET GSI3PK = :running",
        ExpressionAttributeValues={":running": {"S": "STATUS#running"}},
    )
    assert store.builds(status=Status.RUNNING) == []
    assert store.get(record.build_id) == succeeded(record, east("ami-1"))


# The lease is read, then written only if unchanged (compare-and-swap): these runners read
# together before any writes, the interleaving store_contract_test.py's races cannot force.
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


def test_runners_that_all_read_a_free_lease_before_writing_let_only_one_take_it(
    store: DynamoStore, gateway: Gateway
) -> None:
    looked = threading.Barrier(6)
    stores = [ReadsTogether(gateway, looked) for _ in range(6)]
    results, errors = race(6, lambda i: stores[i].acquire_lease("web", f"r{i}", 60, 1000.0))
    assert errors == []
    won = [lease for lease in results if lease is not None]
    assert len(won) == 1 and store.lease("web") == won[0]


def test_runners_that_all_read_an_expired_lease_before_writing_let_only_one_take_it_over(
    store: DynamoStore, gateway: Gateway
) -> None:
    assert store.acquire_lease("web", "ghost", 10, now=0.0)
    looked = threading.Barrier(6)
    stores = [ReadsTogether(gateway, looked) for _ in range(6)]
    results, errors = race(6, lambda i: stores[i].acquire_lease("web", f"r{i}", 60, 1000.0))
    assert errors == []
    won = [lease for lease in results if isinstance(lease, Lease)]
    assert len(won) == 1 and won[0].took_over_from == "ghost" and store.lease("web") == won[0]


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
