from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from moto import mock_aws

from bakery.aws.session import AwsSettings, Gateway
from bakery.aws.sources import UntrustedSourceError, filter_of, resolve_external
from bakery.config.recipe import Source
from bakery.errors import BakeryError
from tests.support.amis import make_ami, set_creation_date

AL2023 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
AMAZON = "137112412989"


@pytest.fixture
def aws() -> Iterator[Gateway]:
    with mock_aws():
        yield Gateway(AwsSettings("us-east-1"))


def test_ssm_parameter_resolves_to_its_ami_and_version(aws: Gateway) -> None:
    info = resolve_external(aws, Source("ssm_parameter", AL2023), "us-east-1", [AMAZON])
    parameter = aws.client("ssm").get_parameter(Name=AL2023)["Parameter"]
    assert info.resolved_ami == parameter["Value"]
    assert info.ssm_version == parameter["Version"]
    assert info.owner == AMAZON


def test_filter_takes_the_newest_match_among_owners(aws: Gateway) -> None:
    info = resolve_external(
        aws, Source("filter", "al2023-ami-2023*", (AMAZON,), "x86_64"), "us-east-1", [AMAZON]
    )
    images = aws.client("ec2").describe_images(
        Owners=[AMAZON],
        Filters=[
            {"Name": "name", "Values": ["al2023-ami-2023*"]},
            {"Name": "architecture", "Values": ["x86_64"]},
        ],
    )["Images"]
    # ties on CreationDate go to the highest image id, so the choice is stable
    newest = max(images, key=lambda image: (image["CreationDate"], image["ImageId"]))
    assert info.resolved_ami == newest["ImageId"]


def test_filter_without_match_says_so(aws: Gateway) -> None:
    with pytest.raises(BakeryError, match="matches no available image in us-east-1"):
        resolve_external(aws, Source("filter", "nothing-*", (AMAZON,)), "us-east-1", [AMAZON])


def test_ami_is_checked_to_exist(aws: Gateway) -> None:
    with pytest.raises(BakeryError, match="image ami-0123456789abcdef0 does not exist"):
        resolve_external(aws, Source("ami", "ami-0123456789abcdef0"), "us-east-1", [AMAZON])


def test_owner_outside_trusted_owners_is_refused(aws: Gateway) -> None:
    with pytest.raises(UntrustedSourceError, match="belongs to account 137112412989"):
        resolve_external(aws, Source("ssm_parameter", AL2023), "us-east-1", ["099720109477"])


def test_self_trusts_images_of_this_account(aws: Gateway) -> None:
    ami = make_ami("mine", gateway=aws, from_instance=True)
    info = resolve_external(aws, Source("ami", ami), "us-east-1", ["self"])
    assert info.owner == aws.account_id()


def test_missing_parameter_names_call_region_and_resource(aws: Gateway) -> None:
    with pytest.raises(BakeryError) as caught:
        resolve_external(aws, Source("ssm_parameter", "/nope"), "us-east-1", [AMAZON])
    assert str(caught.value).startswith(
        "ssm GetParameter in us-east-1 for /nope: ParameterNotFound"
    )


def test_build_images_settle_tags_image_and_snapshots(aws: Gateway) -> None:
    from bakery.aws.build_images import AwsBuildImages

    ami = make_ami("tagged", gateway=aws, from_instance=True)
    images = AwsBuildImages(aws)
    snapshots = images.settle("us-east-1", ami, {"bakery:input-hash": "h1", "bakery:recipe": "r"})
    ec2 = aws.client("ec2")
    snapshot = ec2.describe_snapshots(SnapshotIds=list(snapshots))["Snapshots"][0]
    assert {"Key": "bakery:input-hash", "Value": "h1"} in snapshot["Tags"]
    assert images.with_input_hash("r", "us-east-1", "h1") == ami
    assert images.with_input_hash("r", "us-east-1", "h2") is None
    assert images.with_input_hash("other", "us-east-1", "h1") is None


HVM = {"virtualization-type": "hvm"}


def dated(name: str, day: int, *, hvm: bool, gateway: Gateway) -> str:
    """An image of this account made on 2026-01-DAY; moto gives those made from an instance
    virtualization type hvm, and registered ones none."""
    ami = make_ami(name, gateway=gateway, from_instance=hvm)
    set_creation_date(ami, datetime(2026, 1, day, tzinfo=UTC))
    return ami


def test_filter_with_ec2_filters_takes_the_newest_image_they_match(aws: Gateway) -> None:
    dated("app-1", 1, hvm=True, gateway=aws)
    newest_hvm = dated("app-2", 2, hvm=True, gateway=aws)
    newest = dated("app-3", 3, hvm=False, gateway=aws)  # newer, but not hvm
    plain = resolve_external(aws, Source("filter", "app-*", ("self",)), "us-east-1", ["self"])
    assert plain.resolved_ami == newest
    source = Source("filter", "app-*", ("self",), None, HVM)
    assert resolve_external(aws, source, "us-east-1", ["self"]).resolved_ami == newest_hvm


def test_filter_whose_ec2_filters_match_nothing_says_so(aws: Gateway) -> None:
    dated("app-1", 1, hvm=True, gateway=aws)
    source = Source("filter", "app-*", ("self",), None, {"virtualization-type": "paravirtual"})
    with pytest.raises(BakeryError, match=r"source filter app-\* \(owners self\) matches no "):
        resolve_external(aws, source, "us-east-1", ["self"])


def test_filter_of_sends_architecture_and_every_filter_sorted() -> None:
    source = Source("filter", "x-*", ("self",), "arm64", {"root-device-type": "ebs", **HVM})
    assert filter_of(source) == [
        {"Name": "architecture", "Values": ["arm64"]},
        {"Name": "root-device-type", "Values": ["ebs"]},
        {"Name": "virtualization-type", "Values": ["hvm"]},
    ]
