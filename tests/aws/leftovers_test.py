from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from bakery.aws.leftovers import find_leftovers, remove_leftovers
from bakery.aws.session import AwsSettings, Gateway


@pytest.fixture
def aws() -> Iterator[Gateway]:
    with mock_aws():
        yield Gateway(AwsSettings("us-east-1"))


def leave_behind(ec2: Any, build_id: str) -> dict[str, str]:
    tags = [
        {"ResourceType": kind, "Tags": [{"Key": "bakery:build-id", "Value": build_id}]}
        for kind in ("instance", "key-pair", "security-group")
    ]
    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
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
    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
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
