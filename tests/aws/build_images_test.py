"""What a bake sets on a finished image when Packer 1.6 cannot, and what it reads of a source
(bakery.aws.build_images.AwsBuildImages.apply and boot_of), against moto."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from moto import mock_aws

from bakery.aws.build_images import AwsBuildImages, ImageSettings
from bakery.aws.session import AwsError, AwsSettings, Gateway
from tests.support.amis import make_ami

EAST = "us-east-1"
ORGANIZATION = "arn:aws:organizations::111122223333:organization/o-exampleorg1"
UNIT = "arn:aws:organizations::111122223333:ou/o-exampleorg1/ou-ab12-workload1"


@pytest.fixture
def aws() -> Iterator[Gateway]:
    with mock_aws():
        yield Gateway(AwsSettings(EAST))


def record_calls(gateway: Gateway) -> list[tuple[str, dict[str, Any]]]:
    """Every EC2 call the gateway's client makes from now on: (operation, parameters)."""
    calls: list[tuple[str, dict[str, Any]]] = []

    def seen(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((model.name, dict(params)))

    gateway.client("ec2", EAST).meta.events.register("provide-client-params.ec2", seen)
    return calls


def test_apply_sets_imds_support_v2(aws: Gateway) -> None:
    ami = make_ami("built", gateway=aws, from_instance=True)
    calls = record_calls(aws)
    notes = AwsBuildImages(aws).apply(EAST, ami, ImageSettings(imds_v2=True))
    assert notes == []
    # moto accepts the call but does not report ImdsSupport back: the call is what is checked.
    assert ("ModifyImageAttribute", {"ImageId": ami, "ImdsSupport": {"Value": "v2.0"}}) in calls


def test_apply_deprecation_where_the_endpoint_lacks_it_is_a_note(aws: Gateway) -> None:
    ami = make_ami("built", gateway=aws, from_instance=True)
    at = datetime(2027, 1, 1, tzinfo=UTC)
    notes = AwsBuildImages(aws).apply(EAST, ami, ImageSettings(deprecate_at=at))
    assert notes == [
        "this endpoint does not implement EnableImageDeprecation (the local emulator does not)"
        f"; {ami} is not deprecated"
    ]


def test_apply_shares_with_organizations_and_units(aws: Gateway) -> None:
    ami = make_ami("built", gateway=aws, from_instance=True)
    settings = ImageSettings(share_with=(ORGANIZATION, UNIT))
    assert AwsBuildImages(aws).apply(EAST, ami, settings) == []
    holders = aws.client("ec2", EAST).describe_image_attribute(
        ImageId=ami, Attribute="launchPermission"
    )["LaunchPermissions"]
    assert sorted(holders, key=str) == sorted(
        [{"OrganizationArn": ORGANIZATION}, {"OrganizationalUnitArn": UNIT}], key=str
    )


def test_apply_of_nothing_calls_nothing(aws: Gateway) -> None:
    ami = make_ami("built", gateway=aws)
    calls = record_calls(aws)
    assert ImageSettings().empty
    assert AwsBuildImages(aws).apply(EAST, ami, ImageSettings()) == []
    assert calls == []


def test_apply_to_a_missing_image_names_it(aws: Gateway) -> None:
    with pytest.raises(AwsError, match="ModifyImageAttribute in us-east-1 for ami-0123456789"):
        AwsBuildImages(aws).apply(EAST, "ami-0123456789abcdef0", ImageSettings(imds_v2=True))


def test_boot_of_reads_what_ec2_reports_and_nothing_for_a_missing_image(aws: Gateway) -> None:
    ami = make_ami("built", gateway=aws)
    image = aws.client("ec2", EAST).describe_images(ImageIds=[ami])["Images"][0]
    images = AwsBuildImages(aws)
    assert images.boot_of(EAST, ami) == (image.get("BootMode"), image.get("TpmSupport"))
    assert images.boot_of(EAST, "ami-0123456789abcdef0") == (None, None)
