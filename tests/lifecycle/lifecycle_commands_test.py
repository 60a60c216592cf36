"""`bakery share` and `bakery rollback` as a user runs them: the command line, against moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from bakery.aws.facts import SourceInfo
from bakery.cli import main
from bakery.lineage.records import BuildRecord, RegionImage, Status, new_build_id
from bakery.lineage.sqlite.store import SqliteStore
from tests.support.amis import amazon_image
from tests.support.project import ProjectFactory

PROJECT = """\
aws: {region: us-east-1}
share_allowlist: ["111122223333", "444455556666"]
channels:
  staging: {}
"""


class Account:
    """moto's account, the project's lineage store, and the command line."""

    def __init__(self, root: Path, ec2: Any, ssm: Any) -> None:
        self.root, self.ec2, self.ssm = root, ec2, ssm

    def build(self, recipe: str, version: str) -> BuildRecord:
        """Record a succeeded build of RECIPE whose image exists, with its snapshot."""
        build_id = new_build_id()
        base = amazon_image(self.ec2.meta.region_name)
        instance = self.ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1)["Instances"][0]
        ami = self.ec2.create_image(
            InstanceId=instance["InstanceId"], Name=f"{recipe}-{version}-{build_id}"
        )["ImageId"]
        record = BuildRecord(
            build_id=build_id,
            recipe=recipe,
            version=version,
            layer="app",
            status=Status.RUNNING,
            started_at="2026-11-26T00:00:00Z",
            input_hash="h" + version,
            source=SourceInfo("ami", base, base),
            region="us-east-1",
        )
        done = record.finished(
            Status.SUCCEEDED,
            "2026-11-26T00:01:00Z",
            images=(RegionImage("us-east-1", ami, tuple(self.snapshots(ami))),),
        )
        with self.store() as store:
            store.start(record)
            store.finish(done)
        return done

    def snapshots(self, ami: str) -> list[str]:
        [image] = self.ec2.describe_images(ImageIds=[ami])["Images"]
        return [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"] if "Ebs" in m]

    def store(self) -> SqliteStore:
        return SqliteStore(self.root / ".bakery/lineage.db")

    def channel(self, recipe: str, channel: str) -> str:
        name = f"/bakery/{recipe}/{channel}"
        return str(self.ssm.get_parameter(Name=name)["Parameter"]["Value"])

    def bakery(self, *args: str) -> int:
        return main(["-C", str(self.root), *args])


@pytest.fixture
def account(make_project: ProjectFactory) -> Iterator[Account]:
    root = make_project({}, PROJECT)
    with mock_aws():
        import boto3

        yield Account(
            root,
            boto3.client("ec2", region_name="us-east-1"),
            boto3.client("ssm", region_name="us-east-1"),
        )


def test_share_command_gives_launch_and_create_volume_permission_and_records_it(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    record = account.build("web", "1.0.0")
    ami = record.images[0].ami_id
    [snapshot] = record.images[0].snapshot_ids
    accounts = ["111122223333", "444455556666"]

    assert account.bakery("share", "web", "--accounts", *accounts, "--json") == 0
    assert json.loads(capsys.readouterr().out) == {
        "build_id": record.build_id,
        "images": [f"us-east-1:{ami}"],
        "accounts": accounts,
    }
    launch = account.ec2.describe_image_attribute(ImageId=ami, Attribute="launchPermission")
    assert sorted(p["UserId"] for p in launch["LaunchPermissions"]) == accounts
    volume = account.ec2.describe_snapshot_attribute(
        SnapshotId=snapshot, Attribute="createVolumePermission"
    )
    assert sorted(p["UserId"] for p in volume["CreateVolumePermissions"]) == accounts
    with account.store() as store:
        assert sorted(s.account for s in store.shares(record.build_id)) == accounts

    assert account.bakery("share", record.build_id, "--accounts", "111122223333") == 0
    assert capsys.readouterr().out == (
        f"web 1.0.0 ({record.build_id}) shared with 111122223333: us-east-1:{ami}\n"
    )


def test_share_command_refuses_an_account_outside_the_allowlist_and_shares_nothing(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    record = account.build("web", "1.0.0")
    ami = record.images[0].ami_id
    assert account.bakery("share", "web", "--accounts", "111122223333", "999988887777") == 1
    captured = capsys.readouterr()
    assert captured.err == (
        "bakery: error: account 999988887777 is not in share_allowlist of bakery.yaml; "
        "add it there to share with it\n"
    )
    launch = account.ec2.describe_image_attribute(ImageId=ami, Attribute="launchPermission")
    assert launch["LaunchPermissions"] == []
    with account.store() as store:
        assert store.shares(record.build_id) == []


def test_rollback_command_points_the_channel_back_at_the_previous_build(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = account.build("web", "1.0.0"), account.build("web", "1.1.0")
    for record in (first, second):
        assert account.bakery("promote", record.build_id, "--channel", "staging") == 0
    assert account.channel("web", "staging") == second.images[0].ami_id
    capsys.readouterr()

    assert account.bakery("rollback", "web", "--channel", "staging") == 0
    assert capsys.readouterr().out == (
        f"web channel staging → {first.build_id} us-east-1:{first.images[0].ami_id}"
        f" (was {second.build_id})\n"
    )
    assert account.channel("web", "staging") == first.images[0].ami_id
    [image] = account.ec2.describe_images(ImageIds=[first.images[0].ami_id])["Images"]
    assert "bakery:channel:staging" in {tag["Key"] for tag in image.get("Tags", [])}
    with account.store() as store:
        latest = store.promotions("web", "staging")[0]
    assert (latest.build_id, latest.action, latest.previous_build_id) == (
        first.build_id,
        "rollback",
        second.build_id,
    )


def test_rollback_command_without_an_earlier_promotion_says_so(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    record = account.build("web", "1.0.0")
    assert account.bakery("promote", record.build_id, "--channel", "staging") == 0
    capsys.readouterr()
    assert account.bakery("rollback", "web", "--channel", "staging", "--json") == 1
    assert capsys.readouterr().err == (
        "bakery: error: channel staging of web has no earlier promotion to go back to\n"
    )
    assert account.channel("web", "staging") == record.images[0].ami_id
