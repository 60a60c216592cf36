"""`bakery share` and `bakery rollback` as a user runs them: the command line, against moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bakery.aws.facts import SourceInfo
from bakery.cli import main
from bakery.lineage.records import BuildRecord, RegionImage, Share, Status, new_build_id
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


def launch_users(account: Account, ami: str) -> list[dict[str, str]]:
    found = account.ec2.describe_image_attribute(ImageId=ami, Attribute="launchPermission")
    return list(found["LaunchPermissions"])


def volume_users(account: Account, snapshot: str) -> list[dict[str, str]]:
    found = account.ec2.describe_snapshot_attribute(
        SnapshotId=snapshot, Attribute="createVolumePermission"
    )
    return list(found["CreateVolumePermissions"])


def test_revoke_command_unshares_the_image_and_its_snapshots_and_records_it(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    record = account.build("web", "1.0.0")
    ami, [snapshot] = record.images[0].ami_id, record.images[0].snapshot_ids
    assert account.bakery("share", "web", "--accounts", "111122223333", "444455556666") == 0
    capsys.readouterr()

    assert account.bakery("revoke", "web", "--reason", "CVE-2026-1") == 0
    assert capsys.readouterr().out.splitlines()[:2] == [
        f"revoked 1 build: {record.build_id}",
        f"unshared {record.build_id} from 111122223333, 444455556666",
    ]
    assert launch_users(account, ami) == []
    assert volume_users(account, snapshot) == []
    with account.store() as store:
        shares = store.shares(record.build_id)
    assert [(s.account, s.active) for s in shares] == [
        ("111122223333", False),
        ("444455556666", False),
    ]
    assert all(s.removed_at and s.removed_by for s in shares)


def test_revoke_command_with_keep_shares_leaves_the_accounts_their_permission(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    record = account.build("web", "1.0.0")
    ami, [snapshot] = record.images[0].ami_id, record.images[0].snapshot_ids
    assert account.bakery("share", "web", "--accounts", "111122223333") == 0
    assert account.bakery("revoke", "web", "--reason", "superseded", "--keep-shares") == 0
    assert "unshared" not in capsys.readouterr().out
    assert launch_users(account, ami) == [{"UserId": "111122223333"}]
    assert volume_users(account, snapshot) == [{"UserId": "111122223333"}]
    with account.store() as store:
        assert [s.active for s in store.shares(record.build_id)] == [True]


def test_revoke_command_also_takes_back_a_public_or_unrecorded_permission(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    record = account.build("web", "1.0.0")
    ami, [snapshot] = record.images[0].ami_id, record.images[0].snapshot_ids
    # made outside bakery (or by a bake before shares were recorded)
    account.ec2.modify_image_attribute(
        ImageId=ami, LaunchPermission={"Add": [{"UserId": "999988887777"}, {"Group": "all"}]}
    )
    account.ec2.modify_snapshot_attribute(
        SnapshotId=snapshot,
        Attribute="createVolumePermission",
        OperationType="add",
        UserIds=["999988887777"],
        GroupNames=["all"],
    )
    assert account.bakery("revoke", "web", "--reason", "leaked", "--json") == 0
    assert json.loads(capsys.readouterr().out)["unshared"] == {
        record.build_id: ["999988887777", "all"]
    }
    assert launch_users(account, ami) == []
    assert volume_users(account, snapshot) == []
    with account.store() as store:
        assert [(s.account, s.by, s.active) for s in store.shares(record.build_id)] == [
            ("999988887777", "outside bakery", False),
            ("all", "outside bakery", False),
        ]


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("", "the reason of a revocation must not be empty"),
        ("   ", "the reason of a revocation must not be empty"),
        ("CVE\nbakery: ok", "the reason of a revocation must be one line of printable text"),
        ("CVE\x1b[2J", "the reason of a revocation must be one line of printable text"),
    ],
)
def test_revoke_command_refuses_a_blank_or_unprintable_reason_and_keeps_the_old_one(
    account: Account, capsys: pytest.CaptureFixture[str], reason: str, message: str
) -> None:
    record = account.build("web", "1.0.0")
    assert account.bakery("revoke", "web", "--reason", "CVE-2026-1") == 0
    capsys.readouterr()
    assert account.bakery("revoke", "web", "--reason", reason) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"bakery: error: {message}") and err.count("\n") == 1
    with account.store() as store:
        found = store.get(record.build_id)
    assert found is not None and found.revoked_reason == "CVE-2026-1"


@pytest.mark.parametrize(
    ("accounts", "message"),
    [
        (["all"], "sharing with all would make the image public; bakery never makes images public"),
        (["ALL"], "sharing with ALL would make the image public; bakery never makes images public"),
        (["11112222333"], "11112222333 is not an AWS account id (12 digits)"),
        (["111122223333\n"], "'111122223333\\n' is not an AWS account id (12 digits)"),
    ],
)
def test_share_command_never_makes_an_image_public_nor_takes_a_malformed_account(
    account: Account, capsys: pytest.CaptureFixture[str], accounts: list[str], message: str
) -> None:
    record = account.build("web", "1.0.0")
    assert account.bakery("share", "web", "--accounts", *accounts) == 1
    assert capsys.readouterr().err.startswith(f"bakery: error: {message}")
    assert launch_users(account, record.images[0].ami_id) == []
    with account.store() as store:
        assert store.shares(record.build_id) == []


def test_copy_command_refuses_a_region_aws_does_not_have_before_any_call(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    account.build("web", "1.0.0")
    assert account.bakery("copy", "web", "--to", "us-west-2", "mars-1") == 2
    assert capsys.readouterr().err == (
        "bakery: error: --to: 'mars-1' is not an AWS region; name regions like us-west-2 or "
        "eu-central-1\n"
    )
    west = boto3.client("ec2", region_name="us-west-2")
    assert west.describe_images(Owners=["self"])["Images"] == []


def test_copy_command_shares_the_copy_with_the_accounts_of_the_build(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    record = account.build("web", "1.0.0")
    assert account.bakery("share", "web", "--accounts", "444455556666") == 0
    # then 444455556666 leaves the allowlist, and the build is recorded shared with another
    (account.root / "bakery.yaml").write_text(
        PROJECT.replace('"111122223333", "444455556666"', '"111122223333"')
    )
    with account.store() as store:
        store.add_share(Share(record.build_id, "111122223333", "t", "me"))
    capsys.readouterr()
    assert account.bakery("copy", "web", "--to", "us-west-2") == 0
    lines = capsys.readouterr().out.splitlines()
    ami = lines[0].rsplit(" ", 1)[-1]
    assert lines[1:] == [
        "  shared with 111122223333, as the build is",
        "  not shared with 444455556666: no longer in share_allowlist of bakery.yaml",
    ]
    west = boto3.client("ec2", region_name="us-west-2")
    launch = west.describe_image_attribute(ImageId=ami, Attribute="launchPermission")
    assert launch["LaunchPermissions"] == [{"UserId": "111122223333"}]
