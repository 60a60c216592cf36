from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws

from bakery.aws.facts import CommandResult
from bakery.aws.session import AwsSettings, Gateway
from bakery.cli import main
from bakery.errors import BakeryError
from bakery.lineage.dynamodb.setup import ensure_table
from bakery.lineage.dynamodb.store import DynamoStore
from bakery.lineage.migrate import migrate
from bakery.lineage.records import Artifact, Promotion, RegionImage, Share, SmokeTest, Status
from bakery.lineage.sqlite.store import SqliteStore
from bakery.lineage.store import LineageStore
from tests.support.project import ProjectFactory
from tests.support.records import T0, east, make_record, succeeded

TABLE = "bakery-lineage"


@pytest.fixture
def dynamo() -> Iterator[DynamoStore]:
    with mock_aws():
        gateway = Gateway(AwsSettings("us-east-1"))
        ensure_table(gateway, TABLE)
        yield DynamoStore(TABLE, gateway)


def fill(store: LineageStore) -> None:
    """Record a little of everything: builds of every kind, promotions, tests, shares, a lease."""
    base = make_record("base", at=T0)
    web = make_record(at=T0 + 1, parent=base.build_id, pid=7, host="h", git_dirty=True)
    failed, running = make_record(at=T0 + 2), make_record("db", at=T0 + 3)
    for record in (base, web, failed, running):
        store.start(record)
    store.finish(succeeded(base, east("ami-b"), RegionImage("eu-west-1", "ami-be", ("s1", "s2"))))
    store.finish(succeeded(web, east("ami-w")))
    kept = (Artifact("logs/cloud-init.log", "ab" * 32, 2048),)  # what the failed build downloaded
    store.finish(
        failed.finished(Status.FAILED, "2024-01-01T10:09:00+00:00", error="boom", artifacts=kept)
    )
    store.set_revoked(base.build_id, "CVE-1")
    store.mark_removed(["ami-be"], "2024-02-01T00:00:00Z")
    for channel, build, previous in (("dev", web, None), ("prod", web, None), ("dev", base, web)):
        image = RegionImage("us-east-1", build.ami_ids[0] if build.ami_ids else "ami-w")
        before = None if previous is None else previous.build_id
        store.add_promotion(Promotion("web", channel, build.build_id, (image,), "t", "me", before))
    for passed in (False, True):
        store.add_smoke_test(
            SmokeTest(
                web.build_id,
                "us-east-1",
                "ami-w",
                "t0",
                "t1",
                passed,
                "i-1",
                (CommandResult("true", "Success", 0, "ok"),),
            )
        )
    store.add_share(Share(web.build_id, "111122223333", "t", "me"))
    store.add_share(Share(base.build_id, "222233334444", "t", "me"))
    store.acquire_lease("web", "runner-1", 60, 1000.0)


def contents(store: LineageStore) -> tuple[object, ...]:
    records = store.builds()
    return (
        records,
        store.promotions(),
        [store.smoke_tests(r.build_id) for r in records],
        [store.shares(r.build_id) for r in records],
    )


def test_migrate_copies_sqlite_to_dynamodb_and_back(tmp_path: Path, dynamo: DynamoStore) -> None:
    with SqliteStore(tmp_path / "source.db") as source:
        fill(source)
        report = migrate(source, dynamo)
        assert report.ok
        assert [(c.kind, c.source, c.target, c.copied) for c in report.counts] == [
            ("builds", 4, 4, 4),
            ("images", 3, 3, 3),
            ("promotions", 3, 3, 3),
            ("smoke tests", 2, 2, 2),
            ("shares", 2, 2, 2),
        ]
        assert contents(dynamo) == contents(source)
        assert dynamo.lease("web") is None  # leases belong to running bakes, not to history
        with SqliteStore(tmp_path / "back.db") as back:
            assert migrate(dynamo, back).ok
            assert contents(back) == contents(source)


def test_migrating_again_copies_only_what_is_missing(tmp_path: Path, dynamo: DynamoStore) -> None:
    with SqliteStore(tmp_path / "source.db") as source:
        fill(source)
        assert migrate(source, dynamo).ok
        again = migrate(source, dynamo)
        assert again.ok
        assert {c.kind: c.copied for c in again.counts}["promotions"] == 0
        assert {c.kind: c.copied for c in again.counts}["smoke tests"] == 0
        assert contents(dynamo) == contents(source)


def test_migrate_refuses_a_target_holding_other_builds(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "a.db") as source, SqliteStore(tmp_path / "b.db") as target:
        fill(source)
        target.start(make_record("other", at=T0 + 9))
        with pytest.raises(BakeryError, match="already holds 1 builds that are not in the source"):
            migrate(source, target)


def test_migrate_reports_a_count_that_differs(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "a.db") as source, SqliteStore(tmp_path / "b.db") as target:
        fill(source)
        target.add_promotion(Promotion("web", "dev", "B0", (), "t", "someone"))
        report = migrate(source, target)
        assert not report.ok
        assert [c.kind for c in report.counts if not c.ok] == ["promotions"]


def test_state_migrate_command_copies_to_a_new_dynamodb_table(
    make_project: ProjectFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_project({})
    with SqliteStore(root / ".bakery" / "lineage.db") as source:
        fill(source)
        expected = contents(source)
    url = f"dynamodb://{TABLE}?region=eu-west-1"
    with mock_aws():
        assert main(["-C", str(root), "state", "init", "--to", url]) == 0
        assert main(["-C", str(root), "state", "migrate", "--to", url]) == 0
        out = capsys.readouterr().out
        assert "builds             4       4       4" in out
        assert f"set `state: {url}` in bakery.yaml" in out
        target = DynamoStore(TABLE, Gateway(AwsSettings("eu-west-1")))
        assert contents(target) == expected
        target.add_promotion(Promotion("web", "dev", "B0", (), "t", "someone"))
        assert main(["-C", str(root), "state", "migrate", "--to", url, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert [
        (c["kind"], c["source"], c["target"]) for c in report["counts"] if c["kind"] == "promotions"
    ] == [("promotions", 3, 4)]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["state", "migrate"], "state migrate needs --to URL"),
        (["state", "migrate", "--to", "sqlite:.bakery/lineage.db"], "already uses"),
        (["state", "import", "--to", "sqlite:x.db"], "--to is for `state init`"),
    ],
)
def test_state_migrate_usage_errors(
    make_project: ProjectFactory,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    root = make_project({})
    assert main(["-C", str(root), *argv]) == 2
    assert message in capsys.readouterr().err
