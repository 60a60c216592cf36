from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from bakery.aws.leftovers import (
    BUILD_TAG,
    LogNames,
    find_leftovers,
    log_names,
    read_log,
    remove_leftovers,
)
from bakery.aws.session import AwsSettings, Gateway
from bakery.cli import main
from bakery.lineage.records import BuildRecord, Status
from bakery.lineage.sqlite.store import SqliteStore
from tests.support.amis import make_ami, snapshot_ids
from tests.support.packer_logs import packer_lines, write_build_log
from tests.support.project import BASE_RECIPE, ProjectFactory
from tests.support.records import T0, east, failed, live, make_record, region_image, succeeded

NO_DEFAULT_IMAGES = "MOTO_EC2_LOAD_DEFAULT_AMIS"


@pytest.fixture
def aws() -> Iterator[Gateway]:
    # Without moto's 1,300 public images and their snapshots: reap lists every snapshot, and
    # moto ignores OwnerIds there (EC2 returns only the account's own). Set back before moto
    # stops, for moto resets its backends then, for the next test, with the images.
    os.environ[NO_DEFAULT_IMAGES] = "false"
    try:
        with mock_aws():
            try:
                yield Gateway(AwsSettings("us-east-1"))
            finally:
                del os.environ[NO_DEFAULT_IMAGES]
    finally:
        os.environ.pop(NO_DEFAULT_IMAGES, None)


def builder_image(ec2: Any) -> str:
    """An image to launch builders from (moto's public ones are not loaded here)."""
    return make_ami("vendor-linux", ec2.meta.region_name)


def leave_behind(ec2: Any, build_id: str) -> dict[str, str]:
    tags = [
        {"ResourceType": kind, "Tags": [{"Key": "bakery:build-id", "Value": build_id}]}
        for kind in ("instance", "key-pair", "security-group")
    ]
    ami = builder_image(ec2)
    instance = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, TagSpecifications=[tags[0]])[
        "Instances"
    ][0]["InstanceId"]
    pair = ec2.create_key_pair(KeyName=f"packer_{build_id}", TagSpecifications=[tags[1]])
    group = ec2.create_security_group(
        GroupName=f"packer_{build_id}", Description="tmp", TagSpecifications=[tags[2]]
    )
    return {"instance": instance, "key-pair": pair["KeyPairId"], "security-group": group["GroupId"]}


def test_leftovers_of_finished_builds_are_found_and_removed(aws: Gateway) -> None:
    ec2 = aws.client("ec2")
    finished = leave_behind(ec2, "01FINISHED")
    running = leave_behind(ec2, "01RUNNING")
    found = find_leftovers(aws, "us-east-1", lambda build_id: build_id == "01RUNNING")
    assert {(item.kind, item.resource_id) for item in found} == set(finished.items())
    assert remove_leftovers(aws, found) == []
    state = ec2.describe_instances(InstanceIds=[finished["instance"]])
    assert state["Reservations"][0]["Instances"][0]["State"]["Name"] == "terminated"
    kept = {item.resource_id for item in find_leftovers(aws, "us-east-1", lambda _: False)}
    assert kept == set(running.values())


def test_a_recent_smoke_test_instance_is_not_a_leftover(aws: Gateway) -> None:
    ec2 = aws.client("ec2")
    ami = builder_image(ec2)
    tags = [
        {"Key": "bakery:build-id", "Value": "01DONE"},
        {"Key": "bakery:purpose", "Value": "smoke-test"},
    ]
    ec2.run_instances(
        ImageId=ami,
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )
    assert find_leftovers(aws, "us-east-1", lambda build_id: False) == []


def instance_state(ec2: Any, instance_id: str) -> str:
    reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return str(reservations[0]["Instances"][0]["State"]["Name"])


def key_pairs_and_groups(ec2: Any) -> set[str]:
    pairs = {pair["KeyPairId"] for pair in ec2.describe_key_pairs()["KeyPairs"]}
    groups = {group["GroupId"] for group in ec2.describe_security_groups()["SecurityGroups"]}
    return pairs | groups


def test_reap_apply_terminates_the_instance_of_a_finished_build_and_not_a_running_ones(
    aws: Gateway,
    make_project: ProjectFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = make_project({"recipes/base.yaml": BASE_RECIPE})
    with SqliteStore(root / ".bakery/lineage.db") as store:
        done = make_record("base", build_id="01FINISHED")
        store.start(done)
        store.finish(succeeded(done))
        store.start(live(make_record("base", build_id="01RUNNING")))
    ec2 = aws.client("ec2")
    finished = leave_behind(ec2, "01FINISHED")
    running = leave_behind(ec2, "01RUNNING")

    assert main(["-C", str(root), "reap", "--json"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["applied"] is False
    assert {(i["kind"], i["resource_id"], i["build_id"]) for i in dry["leftovers"]} == {
        (kind, resource, "01FINISHED") for kind, resource in finished.items()
    }
    assert instance_state(ec2, finished["instance"]) == "running"  # a dry run removes nothing

    assert main(["-C", str(root), "reap", "--apply", "--json"]) == 0
    applied = json.loads(capsys.readouterr().out)
    assert (applied["applied"], applied["problems"]) == (True, [])
    assert instance_state(ec2, finished["instance"]) == "terminated"
    assert instance_state(ec2, running["instance"]) == "running"
    left = key_pairs_and_groups(ec2)
    assert not left & {finished["key-pair"], finished["security-group"]}
    assert {running["key-pair"], running["security-group"]} <= left

    assert main(["-C", str(root), "reap"]) == 0
    assert capsys.readouterr().out == "no leftovers of finished builds\n"


# Untagged leftovers: Packer 1.6 tags neither its temporary key pair nor its security group, and
# leaves its encrypted build-region image untagged when a copy to another region fails.

KEY = "packer_6b115b24-75a4-058f-8e61-b6a0fcce8b53"
GROUP = "packer_6b115b24-adc6-0055-8ad8-9a8f795247aa"


def untagged_packer_pair_and_group(ec2: Any, key: str = KEY, group: str = GROUP) -> dict[str, Any]:
    pair = ec2.create_key_pair(KeyName=key)
    group_id = ec2.create_security_group(GroupName=group, Description="Temporary group")["GroupId"]
    [described] = ec2.describe_key_pairs(KeyNames=[key])["KeyPairs"]
    return {"key-pair": pair["KeyPairId"], "security-group": group_id, "created": described}


def created_at(pair: dict[str, Any]) -> float:
    """When EC2 says the key pair was made (moto stamps the real clock): windows are built on it."""
    return float(pair["CreateTime"].timestamp())


def record_builds(root: Path, *records: BuildRecord) -> None:
    with SqliteStore(root / ".bakery/lineage.db") as store:
        for record in records:
            store.start(running_record(record))
            if record.status is not Status.RUNNING:
                store.finish(record)


def running_record(record: BuildRecord) -> BuildRecord:
    return replace(record, status=Status.RUNNING, ended_at=None, error=None, images=())


def reap_json(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["-C", str(root), "reap", "--json", *args]) == 0
    return dict(json.loads(capsys.readouterr().out))


def by_id(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["resource_id"]: item for item in report["leftovers"]}


@pytest.fixture
def project(make_project: ProjectFactory) -> Path:
    return make_project({"recipes/base.yaml": BASE_RECIPE})


def test_untagged_packer_key_pair_and_group_named_in_a_failed_builds_log_are_reaped(
    aws: Gateway, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ec2 = aws.client("ec2")
    made = untagged_packer_pair_and_group(ec2)
    build = failed(make_record("base", at=created_at(made["created"]) - 60), after=120)
    record_builds(project, build)
    write_build_log(project, build, packer_lines(key_pair=KEY, security_group=GROUP))

    found = by_id(reap_json(project, capsys))
    assert set(found) == {made["key-pair"], made["security-group"]}
    for kind in ("key-pair", "security-group"):
        item = found[made[kind]]
        assert (item["kind"], item["build_id"]) == (kind, build.build_id)
        assert item["reason"] == (
            f"named in the log of build {build.build_id} (failed), {build.log_path}"
        )
    assert main(["-C", str(project), "reap"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"would remove key-pair {made['key-pair']} {KEY} in us-east-1 (build " in lines[0]
    assert lines[0].endswith(f"(failed), {build.log_path}")
    assert len(lines) == 3 and lines[-1].startswith("dry run")

    applied = reap_json(project, capsys, "--apply")
    assert applied["problems"] == []
    assert not key_pairs_and_groups(ec2) & {made["key-pair"], made["security-group"]}


def test_untagged_packer_resources_outside_every_build_and_not_named_are_left_alone(
    aws: Gateway, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ec2 = aws.client("ec2")
    made = untagged_packer_pair_and_group(ec2)
    # Ended an hour before the key pair was made; its log names other temporaries.
    earlier = failed(make_record("base", at=created_at(made["created"]) - 3600), after=60)
    # No logs, one ended before it was made and one started after: no evidence at all.
    silent = failed(make_record("base", at=created_at(made["created"]) - 1800), after=60)
    later = failed(make_record("base", at=created_at(made["created"]) + 600), after=60)
    record_builds(project, earlier, silent, later)
    other = "packer_00000000-0000-0000-0000-000000000000"
    write_build_log(project, earlier, packer_lines(key_pair=other, security_group=other))

    assert reap_json(project, capsys)["leftovers"] == []
    assert {made["key-pair"], made["security-group"]} <= key_pairs_and_groups(ec2)


def test_a_packer_key_pair_made_during_a_failed_build_without_a_log_is_found_by_its_time(
    aws: Gateway, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ec2 = aws.client("ec2")
    made = untagged_packer_pair_and_group(ec2)
    build = failed(make_record("base", at=created_at(made["created"]) - 60), after=120)
    record_builds(project, build)  # its log is missing

    [item] = reap_json(project, capsys)["leftovers"]  # the group: no time, no log, no builder
    assert (item["kind"], item["resource_id"]) == ("key-pair", made["key-pair"])
    assert item["reason"].startswith("packer_ key pair created ")
    assert f", during build {build.build_id} (failed) ({build.started_at} to " in item["reason"]


def test_what_a_running_build_may_own_is_never_a_leftover(
    aws: Gateway, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ec2 = aws.client("ec2")
    made = untagged_packer_pair_and_group(ec2)
    created = created_at(made["created"])
    # A failed build around the key pair's birth, without a log (time is its only evidence),
    # and a build still running since just before: either may own it, so it stays.
    build = failed(make_record("base", at=created - 60), after=120)
    running = live(make_record("base", at=created - 30))
    record_builds(project, build, running)
    key, group = f"{KEY}-2", f"{GROUP}-2"
    mine = untagged_packer_pair_and_group(ec2, key, group)
    write_build_log(project, running, packer_lines(key_pair=key, security_group=group))

    assert reap_json(project, capsys)["leftovers"] == []
    kept = key_pairs_and_groups(ec2)
    assert {made["key-pair"], mine["key-pair"], mine["security-group"]} <= kept


def test_the_group_and_key_pair_of_a_failed_builds_builder_instance_are_reaped_with_it(
    aws: Gateway, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ec2 = aws.client("ec2")
    made = untagged_packer_pair_and_group(ec2)
    build = failed(make_record("base", at=created_at(made["created"]) - 3600), after=60)
    record_builds(project, build)  # no log, and a window long past: only the builder links them
    builder = ec2.run_instances(
        ImageId=builder_image(ec2),
        MinCount=1,
        MaxCount=1,
        KeyName=KEY,
        SecurityGroupIds=[made["security-group"]],
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": BUILD_TAG, "Value": build.build_id}]}
        ],
    )["Instances"][0]["InstanceId"]

    found = by_id(reap_json(project, capsys, "--apply"))
    assert set(found) == {builder, made["key-pair"], made["security-group"]}
    assert found[builder]["reason"] == f"tagged {BUILD_TAG}={build.build_id}, a failed build"
    assert found[made["key-pair"]]["reason"] == (
        f"key pair of builder instance {builder} of build {build.build_id} (failed)"
    )
    assert found[made["security-group"]]["reason"] == (
        f"security group of builder instance {builder} of build {build.build_id} (failed)"
    )
    assert instance_state(ec2, builder) == "terminated"
    assert not key_pairs_and_groups(ec2) & {made["key-pair"], made["security-group"]}


def ami_name_of(record: BuildRecord) -> str:
    stamp = datetime.fromisoformat(record.started_at).strftime("%Y%m%d%H%M%S")
    return f"{record.recipe}-{record.version}-{stamp}"


def image_exists(ec2: Any, ami: str) -> bool:
    return any(image["ImageId"] == ami for image in ec2.describe_images(Owners=["self"])["Images"])


def snapshot_exists(ec2: Any, snapshot: str) -> bool:
    found = ec2.describe_snapshots(Filters=[{"Name": "snapshot-id", "Values": [snapshot]}])
    return bool(found["Snapshots"])


def test_the_untagged_image_a_failed_copy_left_is_deregistered_and_its_snapshot_deleted(
    aws: Gateway, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ec2 = aws.client("ec2")
    build = failed(make_record("base"), error="Error Copying AMIs: us-west-2: RequestLimitExceeded")
    record_builds(project, build)  # what Packer 1.6 left: its encrypted copy, no tags, no record
    ami = make_ami(ami_name_of(build), gateway=aws, from_instance=True)
    [snapshot] = snapshot_ids(ami, gateway=aws)
    # and a snapshot whose image Packer deregistered, named in the log
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]
    orphan = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    write_build_log(project, build, packer_lines(snapshot=orphan))

    found = by_id(reap_json(project, capsys))
    assert set(found) == {ami, orphan}
    assert found[ami]["kind"] == "image" and found[ami]["snapshots"] == [snapshot]
    assert found[ami]["reason"] == (
        f"untagged image named {ami_name_of(build)}, the AMI name of build {build.build_id} "
        "(failed)"
    )
    assert found[orphan]["kind"] == "snapshot"
    assert image_exists(ec2, ami)  # a dry run removes nothing

    applied = reap_json(project, capsys, "--apply")
    assert applied["problems"] == []
    assert not image_exists(ec2, ami)
    assert not snapshot_exists(ec2, snapshot) and not snapshot_exists(ec2, orphan)
    assert reap_json(project, capsys)["leftovers"] == []


def test_recorded_images_and_images_of_succeeded_builds_are_never_leftovers(
    aws: Gateway, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ec2 = aws.client("ec2")
    # A succeeded build's untagged copy, named as its AMI name, unrecorded (moto copies no tags).
    done = make_record("base")
    copy = make_ami(ami_name_of(done), gateway=aws)
    kept = make_ami("base-2.3.0-recorded", gateway=aws)
    done = succeeded(done, region_image("us-east-1", kept, *snapshot_ids(kept, gateway=aws)))
    # A failed build whose recorded image (untagged: Packer never got to tag it) its log names.
    broken = make_record("base", at=T0 + 3600)
    recorded = make_ami(ami_name_of(broken), gateway=aws, from_instance=True)
    broken = failed(broken, east(recorded))
    # A tagged image of a failed build: prune's business, never reap's.
    tagged = make_ami("base-2.3.0-tagged", gateway=aws, tags={BUILD_TAG: broken.build_id})
    record_builds(project, done, broken)
    write_build_log(project, done, packer_lines(ami=copy))
    write_build_log(project, broken, packer_lines(ami=recorded) + packer_lines(ami=tagged))

    assert reap_json(project, capsys, "--apply")["leftovers"] == []
    assert all(image_exists(ec2, ami) for ami in (copy, kept, recorded, tagged))


def test_a_log_outside_the_project_is_never_read(tmp_path: Path) -> None:
    root = tmp_path / "project"
    (root / ".bakery/logs").mkdir(parents=True)
    outside = tmp_path / "elsewhere.log"
    outside.write_text("\n".join(packer_lines(key_pair=KEY)) + "\n")
    (root / ".bakery/logs/link.log").symlink_to(outside)
    (root / ".bakery/logs/real.log").write_text("\n".join(packer_lines(key_pair=KEY)) + "\n")
    (root / ".bakery/logs/folder.log").mkdir()

    assert read_log(root, ".bakery/logs/real.log").key_pairs == {KEY}
    for unsafe in (
        str(outside),
        "../elsewhere.log",
        ".bakery/logs/../../../elsewhere.log",
        ".bakery/logs/link.log",
        ".bakery/logs/folder.log",
        ".bakery/logs/missing.log",
        ".bakery/logs/real.log\n",
        "",
        None,
    ):
        assert read_log(root, unsafe) == LogNames(), unsafe


def test_the_log_names_what_packer_made_never_the_source_image() -> None:
    made = packer_lines(
        source_ami="ami-05ce",
        key_pair=KEY,
        security_group=GROUP,
        instance="i-0abc",
        ami="ami-0ade",
        snapshot="snap-0ad3",
    )
    artifact = "1,amazon-ebs.base,artifact,0,id,us-east-1:ami-0e1%!(PACKER_COMMA)us-west-2:ami-0e2"
    assert log_names([*made, artifact, "# bakery: attempt 2 of 3 after ami-0bad"]) == LogNames(
        True,
        frozenset({KEY}),
        frozenset({GROUP}),
        frozenset({"i-0abc"}),
        frozenset({"ami-0ade", "ami-0e1", "ami-0e2"}),
        frozenset({"snap-0ad3"}),
    )
