"""Sharing images with accounts, organizations and organizational units, and taking it back
(bakery.aws.distribution.share_image, unshare_image), against moto."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from bakery.aws.distribution import launch_permissions, share_image, unshare_image
from bakery.aws.session import AwsError, AwsSettings, Gateway
from tests.support.amis import make_ami, snapshot_ids

EAST = "us-east-1"
ACCOUNT = "111122223333"
ORGANIZATION = "arn:aws:organizations::111122223333:organization/o-exampleorg1"
UNIT = "arn:aws:organizations::111122223333:ou/o-exampleorg1/ou-ab12-workload1"


@pytest.fixture
def aws() -> Iterator[Gateway]:
    with mock_aws():
        yield Gateway(AwsSettings(EAST))


def holders(gateway: Gateway, ami: str) -> list[dict[str, str]]:
    return sorted(launch_permissions(gateway, EAST, ami), key=str)


def volume_permissions(gateway: Gateway, ami: str) -> list[Any]:
    ec2 = gateway.client("ec2", EAST)
    return [
        ec2.describe_snapshot_attribute(SnapshotId=snapshot, Attribute="createVolumePermission")[
            "CreateVolumePermissions"
        ]
        for snapshot in snapshot_ids(ami, gateway=gateway)
    ]


def test_sharing_with_an_organization_unit_and_account(aws: Gateway) -> None:
    ami = make_ami("shared", gateway=aws, from_instance=True)
    share_image(aws, EAST, ami, [ACCOUNT, ORGANIZATION, UNIT])
    assert holders(aws, ami) == sorted(
        [{"UserId": ACCOUNT}, {"OrganizationArn": ORGANIZATION}, {"OrganizationalUnitArn": UNIT}],
        key=str,
    )
    # The account gets the snapshots too; EC2 shares them with an organization itself.
    assert volume_permissions(aws, ami) == [[{"UserId": ACCOUNT}]]


def test_sharing_with_an_organization_alone_leaves_the_snapshots_alone(aws: Gateway) -> None:
    ami = make_ami("shared", gateway=aws, from_instance=True)
    share_image(aws, EAST, ami, [ORGANIZATION])
    assert holders(aws, ami) == [{"OrganizationArn": ORGANIZATION}]
    assert volume_permissions(aws, ami) == [[]]


def test_unsharing_takes_organizations_and_units_back(aws: Gateway) -> None:
    ami = make_ami("shared", gateway=aws, from_instance=True)
    share_image(aws, EAST, ami, [ACCOUNT, ORGANIZATION, UNIT])
    removed = unshare_image(aws, EAST, ami, [ORGANIZATION])
    assert removed == tuple(sorted([ACCOUNT, ORGANIZATION, UNIT]))
    assert holders(aws, ami) == []
    assert volume_permissions(aws, ami) == [[]]


def test_unsharing_finds_a_unit_the_records_do_not_name(aws: Gateway) -> None:
    ami = make_ami("shared", gateway=aws)
    aws.client("ec2", EAST).modify_image_attribute(
        ImageId=ami, LaunchPermission={"Add": [{"OrganizationalUnitArn": UNIT}]}
    )
    assert unshare_image(aws, EAST, ami, []) == (UNIT,)
    assert holders(aws, ami) == []


@pytest.mark.parametrize(
    "target",
    ["all", "arn:aws:organizations::111122223333:organization/o-", "o-exampleorg1", "1111"],
)
def test_sharing_refuses_what_is_no_account_nor_organization(aws: Gateway, target: str) -> None:
    ami = make_ami("shared", gateway=aws)
    with pytest.raises(AwsError, match="never a public group"):
        share_image(aws, EAST, ami, [ORGANIZATION, target])
    assert holders(aws, ami) == []  # nothing was shared, the good target neither
