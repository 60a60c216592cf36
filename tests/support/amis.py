"""AMIs in moto, and SSM parameters that point at them, for tests and benchmarks.

An AMI is made one of two ways: registered (the fastest moto offers: no instance), or created
from an instance of an Amazon Linux image and the instance then terminated, the way Packer's
amazon-ebs builder makes one. Either way moto gives it one snapshot of its own.

moto's RegisterImage reads only Name and Description: it ignores TagSpecifications (so tags are
added with CreateTags afterwards), RootDeviceName and BlockDeviceMappings, and every image it
makes has RootDeviceType "standard" with its snapshot on /dev/sda1. Read the snapshot back with
`snapshot_ids`; a root device or snapshot given to RegisterImage would not be honoured.

Clients come from `gateway` when one is given (a test's own Gateway, or one whose clients are
wrapped), else from boto3 in `region`; call these inside `mock_aws()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import boto3

from bakery.aws.session import Gateway

EAST = "us-east-1"
# A name filter: serializing all of moto's 1,300 Amazon images takes over a second.
AMAZON_LINUX = "al2023-ami-2023*"


def amazon_image(region: str = EAST, *, gateway: Gateway | None = None) -> str:
    """Return the id of one of moto's public Amazon Linux 2023 images in `region`."""
    return str(_amazon_images(region, gateway)[0]["ImageId"])


def _amazon_images(region: str, gateway: Gateway | None) -> list[Any]:
    return list(
        _client("ec2", region, gateway).describe_images(
            Owners=["amazon"], Filters=[{"Name": "name", "Values": [AMAZON_LINUX]}]
        )["Images"]
    )


def make_ami(
    name: str,
    region: str = EAST,
    *,
    tags: Mapping[str, str] | None = None,
    gateway: Gateway | None = None,
    from_instance: bool = False,
) -> str:
    """Make an image named `name` in `region`, tag it with `tags`, and return its AMI id."""
    ec2 = _client("ec2", region, gateway)
    if from_instance:
        base = _launchable(region, gateway)
        builder = ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1)["Instances"][0]
        ami = str(ec2.create_image(InstanceId=builder["InstanceId"], Name=name)["ImageId"])
        ec2.terminate_instances(InstanceIds=[builder["InstanceId"]])
    else:
        # EC2 needs the root device of an EBS-backed image; moto ignores it.
        ami = str(ec2.register_image(Name=name, RootDeviceName="/dev/xvda")["ImageId"])
    if tags:
        ec2.create_tags(Resources=[ami], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    return ami


def _launchable(region: str, gateway: Gateway | None) -> str:
    """One of moto's Amazon images, or (where moto loads none) an image registered for it."""
    found = _amazon_images(region, gateway)
    if found:
        return str(found[0]["ImageId"])
    ec2 = _client("ec2", region, gateway)
    return str(ec2.register_image(Name="vendor-linux", RootDeviceName="/dev/xvda")["ImageId"])


def set_creation_date(ami: str, when: datetime, region: str = EAST) -> None:
    """Give an image of this (in-process) moto another CreationDate.

    moto stamps an image with the time of the call, to the second, so the images one test makes
    tie; a test of "the newest image" sets the dates it compares instead of waiting.
    """
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends

    ec2_backends[DEFAULT_ACCOUNT_ID][region].amis[ami].creation_date = when


def snapshot_ids(ami: str, region: str = EAST, *, gateway: Gateway | None = None) -> list[str]:
    """Return the ids of the EBS snapshots behind an image."""
    image = _client("ec2", region, gateway).describe_images(ImageIds=[ami])["Images"][0]
    return [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"] if "Ebs" in m]


def point_parameter(
    name: str, ami: str, region: str = EAST, *, gateway: Gateway | None = None
) -> int:
    """Point the SSM parameter `name` at `ami`, as bakery writes a channel; return its version."""
    answer = _client("ssm", region, gateway).put_parameter(
        Name=name, Value=ami, Type="String", DataType="aws:ec2:image", Overwrite=True
    )
    return int(answer["Version"])


def _client(service: str, region: str, gateway: Gateway | None) -> Any:
    if gateway is not None:
        return gateway.client(service, region)
    return boto3.client(service, region_name=region)
