from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from bakery.aws.facts import SourceInfo
from bakery.aws.session import AwsError, AwsSettings, Gateway
from bakery.aws.source_facts import resolve_all
from bakery.aws.sources import resolve_external
from bakery.config.recipe import Recipe, Source
from tests.support.amis import make_ami, point_parameter, set_creation_date

AL2023 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
AMAZON = "137112412989"
ACCOUNT = "123456789012"  # moto's account


@pytest.fixture
def aws() -> Iterator[Gateway]:
    with mock_aws():
        yield Gateway(AwsSettings("us-east-1"))


def recipe(name: str, source: Source, region: str = "us-east-1") -> Recipe:
    return Recipe(name, "base", "1.0.0", source, f"recipes/{name}.yaml", region)


def test_ssm_parameters_resolve_like_the_single_resolver(aws: Gateway) -> None:
    mine = make_ami("demo-base")
    point_parameter("/bakery-demo/base", mine)
    recipes = [
        recipe("public", Source("ssm_parameter", AL2023)),
        recipe("demo", Source("ssm_parameter", "/bakery-demo/base")),
    ]
    trusted = [AMAZON, "self"]
    found, calls = resolve_all(aws, recipes, trusted)
    for item in recipes:
        assert found[item.name] == resolve_external(aws, item.source, "us-east-1", trusted)
    demo = found["demo"]
    assert isinstance(demo, SourceInfo)
    assert (demo.resolved_ami, demo.ssm_version, demo.owner) == (mine, 1, ACCOUNT)
    assert calls.as_dict() == {
        "us-east-1": {"ec2:DescribeImages": 1, "sts:GetCallerIdentity": 1, "ssm:GetParameters": 1}
    }


def test_filters_pick_the_newest_match_like_the_single_resolver(aws: Gateway) -> None:
    for index in range(3):
        make_ami(f"mine-{index}")
    recipes = [
        recipe("al2023", Source("filter", "al2023-ami-2023*", (AMAZON,), "x86_64")),
        recipe("arm", Source("filter", "al2023-ami-2023*", (AMAZON,), "arm64")),
        recipe("mine", Source("filter", "mine-*", (ACCOUNT,))),
    ]
    found, calls = resolve_all(aws, recipes, [AMAZON, ACCOUNT])
    for item in recipes:
        assert found[item.name] == resolve_external(
            aws, item.source, "us-east-1", [ACCOUNT, AMAZON]
        )
    assert calls.as_dict() == {"us-east-1": {"ec2:DescribeImages": 1}}


def test_explicit_ami_resolves_and_what_is_missing_is_a_problem(aws: Gateway) -> None:
    mine = make_ami("pinned")
    point_parameter("/bakery-demo/gone", "ami-0123456789abcdef0")
    recipes = [
        recipe("pinned", Source("ami", mine)),
        recipe("missing-ami", Source("ami", "ami-0123456789abcdef0")),
        recipe("missing-param", Source("ssm_parameter", "/bakery-demo/nope")),
        recipe("dangling-param", Source("ssm_parameter", "/bakery-demo/gone")),
        recipe("no-match", Source("filter", "nothing-*", (AMAZON,))),
    ]
    found, _ = resolve_all(aws, recipes, [ACCOUNT, AMAZON])
    assert found["pinned"] == SourceInfo("ami", mine, mine, None, ACCOUNT)
    assert found["missing-ami"] == (
        "source.ami: image ami-0123456789abcdef0 does not exist in us-east-1 or is not visible"
    )
    assert found["missing-param"] == (
        "SSM parameter /bakery-demo/nope not found in us-east-1; "
        "check the parameter name and the region"
    )
    assert found["dangling-param"] == (
        "SSM parameter /bakery-demo/gone: image ami-0123456789abcdef0 does not exist in "
        "us-east-1 or is not visible"
    )
    assert str(found["no-match"]).startswith("source filter nothing-* (owners 137112412989)")


def test_untrusted_owner_is_a_problem(aws: Gateway) -> None:
    recipes = [recipe("public", Source("ssm_parameter", AL2023))]
    found, _ = resolve_all(aws, recipes, ["099720109477"])
    problem = found["public"]
    assert isinstance(problem, str)
    assert "belongs to account 137112412989 (amazon), which is not in trusted_owners" in problem


@pytest.mark.parametrize(("count", "ssm_calls"), [(3, 1), (10, 1), (11, 2), (30, 3)])
def test_ssm_calls_grow_by_batches_of_ten_not_by_recipe(
    aws: Gateway, count: int, ssm_calls: int
) -> None:
    ami = make_ami("shared")
    for index in range(count):
        point_parameter(f"/bakery-demo/base-{index}", ami)
    recipes = [
        recipe(f"r{index}", Source("ssm_parameter", f"/bakery-demo/base-{index}"))
        for index in range(count)
    ]
    found, calls = resolve_all(aws, recipes, [ACCOUNT])
    assert all(isinstance(info, SourceInfo) for info in found.values())
    assert calls.as_dict() == {
        "us-east-1": {"ec2:DescribeImages": 1, "ssm:GetParameters": ssm_calls}
    }


def test_recipes_sharing_a_parameter_share_its_lookup(aws: Gateway) -> None:
    recipes = [recipe(f"r{index}", Source("ssm_parameter", AL2023)) for index in range(30)]
    _, calls = resolve_all(aws, recipes, [AMAZON])
    assert calls.total == 2


def test_thirty_filter_recipes_take_one_describe_images_page(aws: Gateway) -> None:
    for index in range(30):
        make_ami(f"team{index}-base-2026")
    recipes = [
        recipe(f"r{index}", Source("filter", f"team{index}-base-*", (ACCOUNT, AMAZON)))
        for index in range(30)
    ]
    found, calls = resolve_all(aws, recipes, [ACCOUNT, AMAZON])
    assert len({info.resolved_ami for info in found.values() if isinstance(info, SourceInfo)}) == 30
    assert calls.as_dict() == {"us-east-1": {"ec2:DescribeImages": 1}}


def test_calls_are_grouped_per_region(aws: Gateway) -> None:
    for region in ("us-east-1", "eu-west-1"):
        point_parameter("/bakery-demo/base", make_ami("base", region), region)
    recipes = [
        recipe(f"{region}-{index}", Source("ssm_parameter", "/bakery-demo/base"), region)
        for region in ("us-east-1", "eu-west-1")
        for index in range(5)
    ]
    found, calls = resolve_all(aws, recipes, [ACCOUNT])
    assert len(found) == 10
    per_region = {"ec2:DescribeImages": 1, "ssm:GetParameters": 1}
    assert calls.as_dict() == {"eu-west-1": per_region, "us-east-1": per_region}


class StubbedGateway(Gateway):
    """A gateway whose EC2 client answers from a botocore Stubber (moto does not paginate)."""

    def __init__(self, ec2: Any) -> None:
        super().__init__(AwsSettings("us-east-1"))
        self.ec2 = ec2

    def client(self, service: str, region: str | None = None) -> Any:
        assert service == "ec2"
        return self.ec2


def test_every_result_page_is_one_counted_call() -> None:
    ec2 = boto3.client("ec2", region_name="us-east-1")
    image = {"OwnerId": AMAZON, "State": "available", "CreationDate": "2026-01-01T00:00:00Z"}
    with Stubber(ec2) as stub:
        stub.add_response(
            "describe_images",
            {"Images": [{**image, "ImageId": "ami-1", "Name": "a-1"}], "NextToken": "next"},
        )
        stub.add_response(
            "describe_images", {"Images": [{**image, "ImageId": "ami-2", "Name": "b-1"}]}
        )
        recipes = [
            recipe("a", Source("filter", "a-*", (AMAZON,))),
            recipe("b", Source("filter", "b-*", (AMAZON,))),
        ]
        found, calls = resolve_all(StubbedGateway(ec2), recipes, [AMAZON])
    assert {
        name: info.resolved_ami for name, info in found.items() if isinstance(info, SourceInfo)
    } == {
        "a": "ami-1",
        "b": "ami-2",
    }
    assert calls.as_dict() == {"us-east-1": {"ec2:DescribeImages": 2}}


class NoIdentityGateway(Gateway):
    """A gateway whose GetCallerIdentity is refused."""

    def account_id(self) -> str:
        raise AwsError("sts GetCallerIdentity in us-east-1: AccessDenied: no")


def test_self_without_the_account_id_says_why(aws: Gateway) -> None:
    mine = make_ami("mine")
    found, calls = resolve_all(
        NoIdentityGateway(AwsSettings("us-east-1")), [recipe("r", Source("ami", mine))], ["self"]
    )
    assert found["r"] == (
        f"cannot tell whether source image {mine} (account {ACCOUNT}) is this account's, as "
        "trusted_owners allows: sts GetCallerIdentity in us-east-1: AccessDenied: no"
    )
    assert calls.as_dict()["us-east-1"]["sts:GetCallerIdentity"] == 1


def dated(name: str, day: int, *, hvm: bool) -> str:
    """An image of this account made on 2026-01-DAY (from an instance: virtualization hvm)."""
    ami = make_ami(name, from_instance=hvm)
    set_creation_date(ami, datetime(2026, 1, day, tzinfo=UTC))
    return ami


def test_a_filter_with_ec2_filters_is_looked_up_on_its_own_beside_the_grouped_ones(
    aws: Gateway,
) -> None:
    dated("node-1", 1, hvm=True)
    hvm = dated("node-2", 2, hvm=True)
    newest = dated("node-3", 3, hvm=False)
    team = dated("team-1", 1, hvm=False)
    recipes = [
        recipe("hvm", Source("filter", "node-*", (ACCOUNT,), None, {"virtualization-type": "hvm"})),
        recipe("plain", Source("filter", "node-*", (ACCOUNT,))),
        recipe("team", Source("filter", "team-*", (ACCOUNT,))),
        recipe("old", Source("filter", "node-*", (ACCOUNT,), include_deprecated=True)),
    ]
    found, calls = resolve_all(aws, recipes, [ACCOUNT])
    for item in recipes:
        assert found[item.name] == resolve_external(aws, item.source, "us-east-1", [ACCOUNT])
    chosen = {
        name: info.resolved_ami for name, info in found.items() if isinstance(info, SourceInfo)
    }
    assert chosen == {"hvm": hvm, "plain": newest, "team": team, "old": newest}
    # One grouped lookup of the plain patterns, one each for the two with filters of their own.
    assert calls.as_dict() == {"us-east-1": {"ec2:DescribeImages": 3}}


def test_a_filter_whose_own_filters_match_nothing_is_a_problem(aws: Gateway) -> None:
    dated("node-1", 1, hvm=True)
    source = Source("filter", "node-*", (ACCOUNT,), None, {"virtualization-type": "paravirtual"})
    found, _ = resolve_all(aws, [recipe("none", source)], [ACCOUNT])
    assert found["none"] == (
        f"source filter node-* (owners {ACCOUNT}) with its filters matches no available image "
        "in us-east-1; check the filters"
    )
