from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from moto import mock_aws

from bakery.aws.session import AwsSettings, Gateway
from bakery.aws.usage import apply_prune, gather
from bakery.config.project import Retention
from bakery.lifecycle.prune import deletion_candidates
from bakery.lifecycle.prune_plan import PruneDecision, PrunePlan, plan_prune
from tests.support.amis import amazon_image, make_ami, point_parameter, snapshot_ids

EAST, WEST = "us-east-1", "us-west-2"
NOW = datetime.now(UTC)
PARTNER = "111122223333"


@pytest.fixture
def aws() -> Iterator[Gateway]:
    with mock_aws():
        yield Gateway(AwsSettings(EAST))


def bake(gateway: Gateway, region: str, recipe: str, days: int, *, managed: bool = True) -> str:
    """Register an image as a bake leaves it: tagged with recipe and build date."""
    tags = {"bakery:recipe": recipe, "bakery:build-date": (NOW - timedelta(days=days)).isoformat()}
    if managed:
        tags["bakery:managed"] = "true"
    return make_ami(f"{recipe}-{days}-{managed}", region, tags=tags, gateway=gateway)


def template_version(ec2: Any, name: str, image_ids: list[str]) -> str:
    """Make a launch template whose versions 1, 2, ... use `image_ids`; return its id."""
    template = ec2.create_launch_template(
        LaunchTemplateName=name, LaunchTemplateData={"ImageId": image_ids[0]}
    )["LaunchTemplate"]["LaunchTemplateId"]
    for image_id in image_ids[1:]:
        ec2.create_launch_template_version(
            LaunchTemplateId=template, LaunchTemplateData={"ImageId": image_id}
        )
    return str(template)


def build_fleet(aws: Gateway) -> dict[str, str]:
    """Ten web images in us-east-1 (w0 newest), each but the newest two used in one way."""
    ec2 = aws.client("ec2", EAST)
    amazon = amazon_image(EAST, gateway=aws)
    w = {f"w{n}": bake(aws, EAST, "web", n + 1) for n in range(10)}
    w["unmanaged"] = bake(aws, EAST, "web", 300, managed=False)
    ec2.run_instances(ImageId=w["w2"], MinCount=1, MaxCount=1)
    w["lt-direct"] = template_version(ec2, "direct", [amazon, w["w3"]])
    point_parameter("/bakery/web/prod", w["w4"], EAST, gateway=aws)
    w["lt-channel"] = template_version(ec2, "channel", ["resolve:ssm:/bakery/web/prod"])
    aws.client("autoscaling", EAST).create_launch_configuration(
        LaunchConfigurationName="web-lc", ImageId=w["w5"], InstanceType="t3.micro"
    )
    ec2.modify_image_attribute(ImageId=w["w6"], LaunchPermission={"Add": [{"UserId": PARTNER}]})
    for value in (w["w8"], w["w0"]):  # version 1 of the parameter holds w8
        point_parameter("/team/pinned", value, EAST, gateway=aws)
    w["lt-pinned"] = template_version(ec2, "pinned", ["resolve:ssm:/team/pinned:1"])
    gone = ec2.run_instances(ImageId=w["w9"], MinCount=1, MaxCount=1)["Instances"][0]
    ec2.terminate_instances(InstanceIds=[gone["InstanceId"]])
    w |= {f"a{n}": bake(aws, WEST, "api", n + 1) for n in range(3)}
    return w


def reasons(plan: PrunePlan) -> dict[str, tuple[str, ...]]:
    return {d.ami_id: d.reasons for d in plan.decisions}


def test_gathered_facts_protect_every_image_in_use(aws: Gateway) -> None:
    w = build_fleet(aws)
    facts = gather(aws, [EAST, WEST], deletion_candidates(lambda _: Retention(2), NOW))
    plan = plan_prune(facts.images, facts.usage, lambda _: Retention(2), NOW)
    why = reasons(plan)
    assert {d.ami_id for d in plan.to_delete} == {w["w7"], w["w9"], w["a2"]}
    assert why[w["w0"]] == ("newest 2 of web",)
    assert why[w["w2"]][0].startswith("used by instance i-")
    assert why[w["w2"]][0].endswith("(running)")
    assert why[w["w3"]] == (f"launch template {w['lt-direct']} version 2 uses it",)
    assert why[w["w4"]] == (
        "channel /bakery/web/prod points to it",
        f"launch template {w['lt-channel']} version 1 uses it through resolve:ssm:/bakery/web/prod",
    )
    assert why[w["w5"]] == ("launch configuration web-lc uses it",)
    assert why[w["w6"]] == (f"shared with {PARTNER}",)
    assert why[w["w8"]] == (
        f"launch template {w['lt-pinned']} version 1 uses it through resolve:ssm:/team/pinned:1",
    )
    assert why[w["w9"]] == ("beyond the newest 2 of web",)
    assert w["unmanaged"] not in why  # listed only when recipes are named


def test_named_recipes_report_their_unmanaged_images(aws: Gateway) -> None:
    w = build_fleet(aws)
    facts = gather(
        aws,
        [EAST, WEST],
        deletion_candidates(lambda _: Retention(2), NOW, recipes={"web"}),
        recipes={"web"},
    )
    plan = plan_prune(facts.images, facts.usage, lambda _: Retention(2), NOW, recipes={"web"})
    assert reasons(plan)[w["unmanaged"]] == ("not managed by bakery (no bakery:managed=true)",)
    assert {d.recipe for d in plan.decisions} == {"web"}


def test_apply_deletes_exactly_the_planned_images_and_their_snapshots(aws: Gateway) -> None:
    w = build_fleet(aws)
    facts = gather(aws, [EAST, WEST], deletion_candidates(lambda _: Retention(2), NOW))
    plan = plan_prune(facts.images, facts.usage, lambda _: Retention(2), NOW)
    doomed = {d.ami_id for d in plan.to_delete}
    doomed_snapshots = {s for d in plan.to_delete for s in d.snapshot_ids}
    assert doomed_snapshots == {
        s for region, ami in [(EAST, w["w7"]), (EAST, w["w9"]), (WEST, w["a2"])]
        for s in snapshot_ids(ami, region, gateway=aws)
    }  # fmt: skip
    everything = {ami for key, ami in w.items() if not key.startswith("lt-")}
    made = _snapshots(aws)  # of every image the fleet made, before the prune
    snapshots_before = _snapshots(aws, made)

    assert apply_prune(aws, plan.to_delete) == []

    assert _images(aws) == everything - doomed
    assert _snapshots(aws, made) == snapshots_before - doomed_snapshots


def test_apply_reports_a_failure_and_goes_on(aws: Gateway) -> None:
    keep = bake(aws, EAST, "web", 1)
    doomed = bake(aws, EAST, "web", 2)
    plan = PrunePlan(
        (
            PruneDecision(EAST, "ami-12345678", "web", True, ("gone already",), ()),
            PruneDecision(
                EAST, doomed, "web", True, ("old",), tuple(snapshot_ids(doomed, EAST, gateway=aws))
            ),
        )
    )
    problems = apply_prune(aws, plan.to_delete)
    assert len(problems) == 1
    assert problems[0].startswith("ec2 DeregisterImage in us-east-1 for ami-12345678: ")
    assert _images(aws) == {keep}


@pytest.mark.parametrize("count", [5, 60])
def test_listing_calls_grow_with_pages_not_images(aws: Gateway, count: int) -> None:
    for n in range(count):
        bake(aws, EAST, "web", n + 1)
    facts = gather(aws, [EAST], deletion_candidates(lambda _: Retention(3), NOW))
    calls = dict(facts.calls[EAST])
    assert calls.pop("ec2:DescribeImageAttribute") == count - 3  # one per deletable image
    assert calls == {
        "autoscaling:DescribeLaunchConfigurations": 1,
        "ec2:DescribeImages": 1,
        "ec2:DescribeInstances": 1,
        "ec2:DescribeLaunchTemplates": 1,
        "ssm:GetParametersByPath": 1,
    }


def test_gather_reads_every_version_of_every_launch_template(aws: Gateway) -> None:
    images = [bake(aws, EAST, "web", n + 1) for n in range(4)]
    ec2 = aws.client("ec2", EAST)
    template = ec2.create_launch_template(
        LaunchTemplateName="many", LaunchTemplateData={"ImageId": images[3]}
    )["LaunchTemplate"]["LaunchTemplateId"]
    for _ in range(20):  # more versions than one default page
        ec2.create_launch_template_version(
            LaunchTemplateId=template, LaunchTemplateData={"ImageId": images[0]}
        )
    facts = gather(aws, [EAST], deletion_candidates(lambda _: Retention(0), NOW))
    uses = facts.usage[EAST].launch_templates
    assert [u.version for u in uses[images[3]]] == [1]
    assert len(uses[images[0]]) == 20
    assert facts.calls[EAST]["ec2:DescribeLaunchTemplateVersions"] == 1


def _images(aws: Gateway) -> set[str]:
    return {
        image["ImageId"]
        for region in (EAST, WEST)
        for image in aws.client("ec2", region).describe_images(Owners=["self"])["Images"]
    }


def _snapshots(aws: Gateway, among: set[str] | None = None) -> set[str]:
    """The snapshots of our images (`among` None), or those of `among` that still exist.

    moto holds a snapshot for each of its own images too; listing them all is slow.
    """
    if among is None:
        return {
            mapping["Ebs"]["SnapshotId"]
            for region in (EAST, WEST)
            for image in aws.client("ec2", region).describe_images(Owners=["self"])["Images"]
            for mapping in image["BlockDeviceMappings"]
            if "Ebs" in mapping
        }
    return {
        snapshot["SnapshotId"]
        for region in (EAST, WEST)
        for snapshot in aws.client("ec2", region).describe_snapshots(
            OwnerIds=["self"], Filters=[{"Name": "snapshot-id", "Values": sorted(among)}]
        )["Snapshots"]
    }
