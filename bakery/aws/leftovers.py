"""Builder leftovers: instances, key pairs and security groups a build tagged and left behind."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bakery.aws.session import AwsError, Gateway, calling

BUILD_TAG = "bakery:build-id"
# A smoke-test instance younger than this may belong to a `bakery test` still running.
SMOKE_TEST_GRACE = timedelta(hours=2)
LIVE_INSTANCE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"]


@dataclass(frozen=True)
class Leftover:
    kind: str  # instance | key-pair | security-group
    resource_id: str
    region: str
    build_id: str
    name: str = ""


def find_leftovers(
    gateway: Gateway, region: str, build_running: Callable[[str], bool]
) -> list[Leftover]:
    """List tagged builder resources in `region` whose build is not running any more."""
    ec2 = gateway.client("ec2", region)
    tag_filter = [{"Name": "tag-key", "Values": [BUILD_TAG]}]
    found: list[Leftover] = []
    with calling("ec2", "DescribeInstances", region):
        pages = ec2.get_paginator("describe_instances").paginate(
            Filters=[*tag_filter, {"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES}]
        )
        for page in pages:
            for reservation in page["Reservations"]:
                for instance in reservation["Instances"]:
                    if _recent_smoke_test(instance):
                        continue  # `bakery test` may still be using it; it terminates its own
                    found.append(_leftover("instance", instance["InstanceId"], region, instance))
    with calling("ec2", "DescribeKeyPairs", region):
        for pair in ec2.describe_key_pairs(Filters=tag_filter)["KeyPairs"]:
            found.append(
                _leftover("key-pair", pair["KeyPairId"], region, pair, pair.get("KeyName", ""))
            )
    with calling("ec2", "DescribeSecurityGroups", region):
        pages = ec2.get_paginator("describe_security_groups").paginate(Filters=tag_filter)
        for page in pages:
            for group in page["SecurityGroups"]:
                found.append(
                    _leftover(
                        "security-group",
                        group["GroupId"],
                        region,
                        group,
                        group.get("GroupName", ""),
                    )
                )
    return [item for item in found if not build_running(item.build_id)]


def _recent_smoke_test(instance: dict[str, Any]) -> bool:
    tags = {tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])}
    if tags.get("bakery:purpose") != "smoke-test":
        return False
    launched = instance.get("LaunchTime")
    if not isinstance(launched, datetime):
        return False
    return datetime.now(UTC) - launched < SMOKE_TEST_GRACE


def _leftover(
    kind: str, resource_id: str, region: str, data: dict[str, object], name: str = ""
) -> Leftover:
    tags = {tag["Key"]: tag["Value"] for tag in data.get("Tags", [])}  # type: ignore[attr-defined]
    return Leftover(kind, resource_id, region, tags.get(BUILD_TAG, ""), name)


def remove_leftovers(gateway: Gateway, leftovers: list[Leftover]) -> list[str]:
    """Terminate instances first, then delete key pairs and security groups; return problems."""
    problems: list[str] = []
    by_region: dict[str, list[Leftover]] = {}
    for item in leftovers:
        by_region.setdefault(item.region, []).append(item)
    for region, items in by_region.items():
        ec2 = gateway.client("ec2", region)
        instances = [i.resource_id for i in items if i.kind == "instance"]
        if instances:
            try:
                with calling("ec2", "TerminateInstances", region, ", ".join(instances)):
                    ec2.terminate_instances(InstanceIds=instances)
                    ec2.get_waiter("instance_terminated").wait(
                        InstanceIds=instances, WaiterConfig={"Delay": 5, "MaxAttempts": 120}
                    )
            except AwsError as error:
                problems.append(str(error))
        for item in items:
            try:
                if item.kind == "key-pair":
                    with calling("ec2", "DeleteKeyPair", region, item.resource_id):
                        # by name: EC2 takes either, the emulator only the name
                        ec2.delete_key_pair(KeyName=item.name)
                elif item.kind == "security-group":
                    with calling("ec2", "DeleteSecurityGroup", region, item.resource_id):
                        ec2.delete_security_group(GroupId=item.resource_id)
            except AwsError as error:
                problems.append(str(error))
    return problems
