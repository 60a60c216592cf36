from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from bakery.aws.leftovers import find_leftovers, remove_leftovers
from bakery.aws.session import AwsSettings, Gateway
from bakery.cli import main
from bakery.lineage.sqlite.store import SqliteStore
from tests.support.amis import amazon_image
from tests.support.project import BASE_RECIPE, ProjectFactory
from tests.support.records import make_record, succeeded


@pytest.fixture
def aws() -> Iterator[Gateway]:
    with mock_aws():
        yield Gateway(AwsSettings("us-east-1"))


def leave_behind(ec2: Any, build_id: str) -> dict[str, str]:
    tags = [
        {"ResourceType": kind, "Tags": [{"Key": "bakery:build-id", "Value": build_id}]}
        for kind in ("instance", "key-pair", "security-group")
    ]
    ami = amazon_image(ec2.meta.region_name)
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
    ami = amazon_image(ec2.meta.region_name)
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
        store.start(make_record("base", build_id="01RUNNING"))
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
