"""copy, share, promote, rollback, channels and revoke against moto."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError
from moto import mock_aws

from bakery.aws.facts import CommandResult
from bakery.aws.session import AwsSettings, Gateway
from bakery.config.project import Project, load_project
from bakery.errors import BakeryError
from bakery.lifecycle.channels import channel_table, promote, revoke, rollback
from bakery.lifecycle.distribute import copy_build, share_build
from bakery.lifecycle.refs import resolve_image_ref
from bakery.lineage.records import BuildRecord, RegionImage, SmokeTest, Status
from bakery.lineage.sqlite.store import SqliteStore
from tests.support.amis import make_ami
from tests.support.records import T0, ami_source, make_record, recipe_source, succeeded

PROJECT = """\
aws: {region: us-east-1}
share_allowlist: ["111122223333"]
kms_key_ids: {us-west-2: alias/dr}
channels:
  staging: {}
  prod: {requires: staging, smoke_test: true, regions: [us-east-1, us-west-2]}
"""


class World:
    def __init__(self, root: Path) -> None:
        self.gateway = Gateway(AwsSettings("us-east-1"))
        self.store = SqliteStore(root / "lineage.db")
        (root / "bakery.yaml").write_text(PROJECT)
        self.project: Project = load_project(root)
        self.clock = T0

    def ec2(self, region: str = "us-east-1") -> Any:
        return self.gateway.client("ec2", region)

    def build(
        self,
        recipe: str,
        version: str = "1.0.0",
        parent: BuildRecord | None = None,
        codes: tuple[str, ...] = (),
    ) -> BuildRecord:
        self.clock += 60  # a minute after the last build: build ids sort in the order made
        source = (
            recipe_source(parent) if parent else ami_source("ami-12345678", product_codes=codes)
        )
        record = make_record(recipe, self.clock, parent, version=version, source=source)
        tags = {"bakery:recipe": recipe, "bakery:build-id": record.build_id}
        name = f"{recipe}-{version}-{record.build_id}"
        ami = make_ami(name, tags=tags, gateway=self.gateway, from_instance=True)
        self.store.start(record)
        done = succeeded(record, RegionImage("us-east-1", ami), after=60)
        self.store.finish(done)
        return done

    def passed_smoke_test(self, record: BuildRecord) -> None:
        self.store.add_smoke_test(
            SmokeTest(
                record.build_id,
                "us-east-1",
                record.images[0].ami_id,
                "t0",
                "t1",
                True,
                "i-1",
                (CommandResult("true", "Success", 0),),
            )
        )

    def fresh(self, record: BuildRecord) -> BuildRecord:
        found = self.store.get(record.build_id)
        assert found is not None
        return found

    def parameter(self, name: str, region: str = "us-east-1") -> str:
        value = self.gateway.client("ssm", region).get_parameter(Name=name)["Parameter"]["Value"]
        return str(value)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with mock_aws():
        yield World(tmp_path)


def test_copy_makes_an_encrypted_tagged_copy_recorded_as_the_same_build(world: World) -> None:
    record = world.build("web")
    [result] = copy_build(world.gateway, world.store, world.project, record, None, ["us-west-2"])
    assert result.copied and result.region == "us-west-2"
    copy = world.ec2("us-west-2").describe_images(ImageIds=[result.ami_id])["Images"][0]
    assert {"Key": "bakery:build-id", "Value": record.build_id} in copy["Tags"]
    images = world.fresh(record).images
    assert [(i.region, i.ami_id) for i in images] == [
        ("us-east-1", record.images[0].ami_id),
        ("us-west-2", result.ami_id),
    ]
    assert images[1].snapshot_ids
    again = copy_build(
        world.gateway, world.store, world.project, world.fresh(record), None, ["us-west-2"]
    )
    assert again[0].copied is False


def images_named(world: World, region: str, name: str) -> list[str]:
    found = world.ec2(region).describe_images(
        Owners=["self"], Filters=[{"Name": "name", "Values": [name]}]
    )["Images"]
    return [image["ImageId"] for image in found]


def test_a_copy_whose_answer_was_lost_is_found_not_made_twice(world: World) -> None:
    record = world.build("web")
    calls: list[str] = []

    def lose_the_answer(**kwargs: Any) -> None:  # CopyImage went through; its answer is lost
        calls.append("CopyImage")
        if len(calls) == 1:
            raise ConnectionClosedError(endpoint_url="https://ec2.us-west-2.amazonaws.com/")

    ec2 = world.gateway.client("ec2", "us-west-2")
    ec2.meta.events.register("after-call.ec2.CopyImage", lose_the_answer)
    [failed] = copy_build(world.gateway, world.store, world.project, record, None, ["us-west-2"])
    assert failed.error.startswith("ec2 CopyImage in us-west-2 for ")
    name = world.ec2().describe_images(ImageIds=[record.images[0].ami_id])["Images"][0]["Name"]
    assert len(images_named(world, "us-west-2", name)) == 1  # made, but unknown to the store
    [result] = copy_build(
        world.gateway, world.store, world.project, world.fresh(record), None, ["us-west-2"]
    )
    assert not result.error and calls == ["CopyImage"]  # found by its name, not copied again
    assert images_named(world, "us-west-2", name) == [result.ami_id]
    copy = world.ec2("us-west-2").describe_images(ImageIds=[result.ami_id])["Images"][0]
    assert {"Key": "bakery:build-id", "Value": record.build_id} in copy["Tags"]
    recorded = world.fresh(record).image_in("us-west-2")
    assert recorded is not None and recorded.ami_id == result.ami_id and recorded.snapshot_ids


def test_a_copy_whose_tagging_failed_is_finished_by_a_rerun(world: World) -> None:
    record = world.build("web")
    refused = {"times": 0}

    def refuse_tags(**kwargs: Any) -> None:
        refused["times"] += 1
        raise ClientError(
            {"Error": {"Code": "RequestLimitExceeded", "Message": "slow down"}}, "CreateTags"
        )

    ec2 = world.gateway.client("ec2", "us-west-2")
    ec2.meta.events.register("before-call.ec2.CreateTags", refuse_tags)
    [failed] = copy_build(world.gateway, world.store, world.project, record, None, ["us-west-2"])
    assert "CreateTags" in failed.error and failed.ami_id  # the copy exists and is recorded
    ec2.meta.events.unregister("before-call.ec2.CreateTags", refuse_tags)
    again = world.fresh(record)
    assert again.image_in("us-west-2") is not None
    [result] = copy_build(world.gateway, world.store, world.project, again, None, ["us-west-2"])
    assert (result.ami_id, result.copied, result.error) == (failed.ami_id, False, "")
    copy = world.ec2("us-west-2").describe_images(ImageIds=[result.ami_id])["Images"][0]
    assert {"Key": "bakery:build-id", "Value": record.build_id} in copy["Tags"]
    snapshots = world.fresh(record).image_in("us-west-2")
    assert snapshots is not None and snapshots.snapshot_ids


def test_one_region_failing_stops_no_other(world: World) -> None:
    record = world.build("web")

    def refuse(**kwargs: Any) -> None:
        raise ClientError({"Error": {"Code": "AuthFailure", "Message": "no"}}, "CopyImage")

    world.gateway.client("ec2", "eu-west-1").meta.events.register(
        "before-call.ec2.CopyImage", refuse
    )
    results = copy_build(
        world.gateway, world.store, world.project, record, None, ["us-west-2", "eu-west-1"]
    )
    by_region = {r.region: r for r in results}
    assert "AuthFailure" in by_region["eu-west-1"].error and not by_region["eu-west-1"].ami_id
    assert not by_region["us-west-2"].error and by_region["us-west-2"].copied
    assert world.fresh(record).image_in("us-west-2") is not None


def test_share_gives_launch_and_create_volume_permission(world: World) -> None:
    record = world.build("web")
    share_build(world.gateway, world.store, world.project, record, None, ["111122223333"])
    ami = record.images[0].ami_id
    permissions = world.ec2().describe_image_attribute(ImageId=ami, Attribute="launchPermission")
    assert permissions["LaunchPermissions"] == [{"UserId": "111122223333"}]
    assert [s.account for s in world.store.shares(record.build_id)] == ["111122223333"]


def test_share_refuses_accounts_outside_the_allowlist(world: World) -> None:
    record = world.build("web")
    with pytest.raises(BakeryError) as caught:
        share_build(world.gateway, world.store, world.project, record, None, ["999988887777"])
    assert str(caught.value) == (
        "account 999988887777 is not in share_allowlist of bakery.yaml;"
        " add it there to share with it"
    )


def test_share_refuses_marketplace_codes_anywhere_in_the_lineage(world: World) -> None:
    base = world.build("base", codes=("prod-abc123",))
    app = world.build("web", parent=base)
    with pytest.raises(BakeryError) as caught:
        share_build(world.gateway, world.store, world.project, app, None, ["111122223333"])
    assert str(caught.value) == (
        "web 1.0.0 carries AWS Marketplace product codes prod-abc123 through its ancestor base; "
        "sharing is refused unless the recipe says licensing: {shareable: true}"
    )


def test_promote_checks_gates_with_exact_messages(world: World) -> None:
    record = world.build("web")
    with pytest.raises(BakeryError) as caught:
        promote(world.gateway, world.store, world.project, record, "prod")
    assert str(caught.value) == (
        f"promotion to prod refused: channel prod requires web 1.0.0 ({record.build_id}) to be "
        f"promoted to staging first; run: bakery promote {record.build_id} --channel staging; "
        "channel prod requires a passing smoke test and it has no smoke test; run: bakery test "
        f"{record.build_id}; channel prod serves us-west-2, where web 1.0.0 ({record.build_id}) "
        f"has no image; run: bakery copy {record.build_id} --to us-west-2"
    )
    with pytest.raises(BakeryError, match="unknown channel qa; declare it under channels:"):
        promote(world.gateway, world.store, world.project, record, "qa")


def test_concurrent_promotions_of_one_channel_keep_store_and_aws_in_step(
    world: World, tmp_path: Path
) -> None:
    first, second = world.build("web", "1.0.0"), world.build("web", "1.1.0")
    order = [first, second, first, second, second, first]
    barrier = threading.Barrier(len(order))
    errors: list[BaseException] = []

    def promote_one(record: BuildRecord) -> None:
        with SqliteStore(tmp_path / "lineage.db") as store:  # one runner each
            barrier.wait()
            try:
                promote(world.gateway, store, world.project, record, "staging")
            except BaseException as error:  # reported below
                errors.append(error)

    threads = [threading.Thread(target=promote_one, args=(r,)) for r in order]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    history = list(reversed(world.store.promotions("web", "staging")))  # oldest first
    assert history[0].previous_build_id is None
    for before, after in itertools.pairwise(history):
        assert after.previous_build_id == before.build_id  # a chain
        assert after.build_id != before.build_id  # a repeat adds no row
    current = world.fresh(first if history[-1].build_id == first.build_id else second)
    assert world.parameter("/bakery/web/staging") == current.images[0].ami_id
    tagged = [
        r.build_id
        for r in (first, second)
        if "bakery:channel:staging"
        in {
            t["Key"]
            for t in world.ec2()
            .describe_images(ImageIds=[r.images[0].ami_id])["Images"][0]
            .get("Tags", [])
        }
    ]
    assert tagged == [current.build_id]


def test_promotion_path_staging_then_prod_then_rollback(world: World) -> None:
    first, second = world.build("web", "1.0.0"), world.build("web", "1.1.0")
    for record in (first, second):
        promote(world.gateway, world.store, world.project, record, "staging")
        copy_build(world.gateway, world.store, world.project, record, None, ["us-west-2"])
        world.passed_smoke_test(record)
        promote(world.gateway, world.store, world.project, world.fresh(record), "prod")
    west = world.fresh(second).image_in("us-west-2")
    assert west is not None
    assert world.parameter("/bakery/web/prod", "us-west-2") == west.ami_id
    tags = world.ec2().describe_images(ImageIds=[second.images[0].ami_id])["Images"][0]["Tags"]
    assert "bakery:channel:prod" in {t["Key"] for t in tags}
    back = rollback(world.gateway, world.store, world.project, "web", "prod", world.store.get)
    assert back.build_id == first.build_id and back.action == "rollback"
    assert world.parameter("/bakery/web/prod") == first.images[0].ami_id
    old_tags = world.ec2().describe_images(ImageIds=[second.images[0].ami_id])["Images"][0]
    assert "bakery:channel:prod" not in {t["Key"] for t in old_tags.get("Tags", [])}
    rows = {
        row["channel"]: row
        for row in channel_table(world.gateway, world.store, world.project, ["web"])
    }
    assert rows["prod"]["build_id"] == first.build_id and rows["prod"]["drift"] is False


def test_revoked_image_cannot_be_promoted(world: World) -> None:
    record = world.build("web")
    world.store.set_revoked(record.build_id, "CVE-2026-1")
    with pytest.raises(BakeryError, match=r"is revoked \(CVE-2026-1\); promote a newer build"):
        promote(world.gateway, world.store, world.project, world.fresh(record), "staging")


def test_revoke_cascades_down_the_lineage_and_moves_channels_back(world: World) -> None:
    old_base = world.build("base", "1.0.0")
    old_app = world.build("web", "1.0.0", parent=old_base)
    base = world.build("base", "1.1.0")
    app = world.build("web", "1.1.0", parent=base)
    for record in (old_app, app):
        promote(world.gateway, world.store, world.project, record, "staging")
    result = revoke(world.gateway, world.store, world.project, base, "bad kernel", cascade=True)
    assert set(result.revoked) == {base.build_id, app.build_id}
    assert [(p.recipe, p.channel, p.build_id, p.action) for p in result.moved] == [
        ("web", "staging", old_app.build_id, "revoke")
    ]
    assert world.parameter("/bakery/web/staging") == old_app.images[0].ami_id
    assert result.notes == (
        "this endpoint does not implement EnableImageDeprecation (the local "
        "emulator does not); the image is tagged and recorded revoked, not "
        "deprecated in EC2",
    )
    tags = world.ec2().describe_images(ImageIds=[app.images[0].ami_id])["Images"][0]["Tags"]
    assert {"Key": "bakery:revoked", "Value": "bad kernel"} in tags
    assert world.fresh(app).revoked and not world.fresh(old_app).revoked


def test_revoke_without_an_earlier_image_leaves_the_channel_and_says_so(world: World) -> None:
    record = world.build("web")
    promote(world.gateway, world.store, world.project, record, "staging")
    result = revoke(world.gateway, world.store, world.project, record, "oops", cascade=False)
    assert result.moved == ()
    assert result.stuck == (
        "staging of web has no earlier non-revoked image; it still points "
        "to the revoked one: promote a fixed build",
    )


def test_refs_name_at_version(world: World) -> None:
    first = world.build("web", "1.0.0")
    world.build("web", "1.1.0")
    assert resolve_image_ref(world.store, "web@1.0.0").build_id == first.build_id
    with pytest.raises(BakeryError, match=r"no succeeded build of web at version 9\.9\.9"):
        resolve_image_ref(world.store, "web@9.9.9")


def test_assume_role_gives_a_gateway_in_the_other_account(world: World) -> None:
    role = "arn:aws:iam::111122223333:role/bakery"
    other = world.gateway.assume("111122223333", {"111122223333": role})
    assert other.account_id() == "111122223333"
    with pytest.raises(BakeryError, match="no role for account 444455556666"):
        world.gateway.assume("444455556666", {})


def test_copy_of_a_failed_build_is_refused(world: World) -> None:
    record = replace(world.build("web"), status=Status.FAILED)
    with pytest.raises(BakeryError, match="did not succeed"):
        copy_build(world.gateway, world.store, world.project, record, None, ["us-west-2"])
