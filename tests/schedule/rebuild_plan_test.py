from __future__ import annotations

import argparse
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from bakery.aws.facts import SourceInfo
from bakery.aws.session import AwsSettings, Gateway
from bakery.commands import plan
from bakery.config.catalog import load_catalog
from bakery.config.project import load_project
from bakery.errors import BakeryError
from bakery.lineage.records import RegionImage
from bakery.lineage.sqlite.store import SqliteStore
from bakery.render.build_folder import render
from bakery.schedule.rebuild_plan import plan_stale, print_rebuild_plan
from tests.support.amis import make_ami, point_parameter
from tests.support.project import ProjectFactory
from tests.support.records import ami_source, make_record, recipe_source, ssm_source, succeeded

ACCOUNT = "123456789012"  # moto's
BASE_PARAMETER = "/bakery-demo/base"
PROJECT = f"""\
aws: {{region: us-east-1}}
packer: {{dialect: "1.6"}}
trusted_owners: ["{ACCOUNT}"]
max_age: 30d
"""
BASE = """\
name: base
layer: base
version: 1.0.0
source: {ssm_parameter: /bakery-demo/base}
"""
HARD = """\
name: hard
layer: hardening
version: 1.0.0
source: {recipe: base}
provision:
  - script: scripts/harden.sh
"""
APP = "name: app\nlayer: app\nversion: 1.0.0\nsource: {recipe: hard}\n"
OTHER = "name: other\nlayer: base\nversion: 1.0.0\nsource: {ami: %s}\n"


class Builds:
    """A project on moto with a lineage store filled by hand, the way `bake` records builds."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.store = SqliteStore(root / ".bakery" / "lineage.db")
        self.clock = datetime.now(UTC) - timedelta(days=5)

    def record(self, name: str, source: SourceInfo, parent: str | None = None, **kw: object) -> str:
        project = load_project(self.root)
        recipe = load_catalog(project).recipes[name]
        digest = render(recipe, project.tags, "1.6", lambda p: (self.root / p).read_bytes()).digest
        self.clock += timedelta(minutes=1)
        started = make_record(
            name,
            self.clock.timestamp(),
            parent,
            digest=digest,
            version=recipe.version,
            layer=recipe.layer,
            source=source,
            region="us-east-1",
            **kw,
        )
        # tagged as bake tags its images: plan decides up to date from the tags
        tags = {
            "bakery:managed": "true",
            "bakery:recipe": name,
            "bakery:build-id": started.build_id,
            "bakery:input-hash": started.input_hash,
            "bakery:build-date": started.started_at,
            "bakery:source-ami": started.source.resolved_ami,
        }
        image = RegionImage("us-east-1", make_ami(f"{name}-{self.clock:%H%M}", tags=tags))
        record = succeeded(started, image)
        self.store.put(record)
        return record.build_id

    def chain(self, base_ami: str) -> dict[str, str]:
        """Record base (built from `base_ami`), hard on it and app on hard."""
        base = self.record("base", demo_base(base_ami))
        hard = self.record("hard", self.built_on("base", base), base)
        app = self.record("app", self.built_on("hard", hard), hard)
        return {"base": base, "hard": hard, "app": app}

    def built_on(self, parent: str, build_id: str) -> SourceInfo:
        found = self.store.get(build_id)
        assert found is not None and found.recipe == parent
        return recipe_source(found)


def demo_base(ami: str) -> SourceInfo:
    """What the base recipe's source resolved to when it pointed at `ami`."""
    return ssm_source(ami, BASE_PARAMETER, owner=ACCOUNT)


@pytest.fixture
def builds(make_project: ProjectFactory) -> Iterator[Builds]:
    with mock_aws():
        pinned = make_ami("pinned")
        root = make_project(
            {
                "recipes/base.yaml": BASE,
                "recipes/hard.yaml": HARD,
                "recipes/app.yaml": APP,
                "recipes/other.yaml": OTHER % pinned,
                "recipes/scripts/harden.sh": "#!/bin/sh\necho harden\n",
            },
            PROJECT,
        )
        found = Builds(root)
        found.record("other", ami_source(pinned, owner=ACCOUNT))
        yield found
        found.store.close()


def run(builds: Builds, *names: str, as_json: bool = False) -> int:
    args = argparse.Namespace(
        project=str(builds.root), names=list(names), json=as_json, local=False, debug=False
    )
    return plan.run(args)


def test_a_moved_base_rebuilds_its_chain_and_nothing_else(
    builds: Builds, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = make_ami("al2023-old"), make_ami("al2023-new")
    builds.chain(old)
    point_parameter(BASE_PARAMETER, new)
    assert run(builds) == plan.EXIT_STALE == 10
    out = capsys.readouterr().out
    assert (
        f"base    STALE       base moved: /bakery-demo/base now points to {new} (built from {old})"
        in out
    )
    assert "hard    STALE       its parent base is rebuilt" in out
    assert "app     STALE       its parent hard is rebuilt" in out
    assert "other   UP TO DATE" in out
    assert "would rebuild 3, in order:\n  wave 1: base\n  wave 2: hard\n  wave 3: app\n" in out
    assert (
        "checked with 3 AWS call(s) (us-east-1: 2 ec2:DescribeImages, 1 ssm:GetParameters)" in out
    )


def test_everything_matching_its_newest_build_exits_0(
    builds: Builds, capsys: pytest.CaptureFixture[str]
) -> None:
    ami = make_ami("al2023")
    builds.chain(ami)
    point_parameter(BASE_PARAMETER, ami)
    assert run(builds) == 0
    out = capsys.readouterr().out
    assert out.count("UP TO DATE") == 4
    assert "nothing to rebuild: every image is up to date" in out


def test_json_gives_each_reason_the_order_the_waves_and_the_calls(
    builds: Builds, capsys: pytest.CaptureFixture[str]
) -> None:
    ami = make_ami("al2023")
    point_parameter(BASE_PARAMETER, ami)
    ids = builds.chain(ami)
    builds.store.set_revoked(ids["base"], "CVE-2026-0001")
    (builds.root / "recipes/scripts/harden.sh").write_text("#!/bin/sh\necho harden more\n")
    assert run(builds, "hard", as_json=True) == 10
    report = json.loads(capsys.readouterr().out)
    entries = {entry["recipe"]: entry for entry in report["entries"]}
    assert list(entries) == ["hard", "app"]
    changed, revoked = entries["hard"]["reasons"]
    assert changed.startswith("recipe, scripts, files or template changed (input hash ")
    base_ami = builds.built_on("base", ids["base"]).resolved_ami
    assert revoked == f"parent image {base_ami} (build {ids['base']}) was revoked (CVE-2026-0001)"
    assert entries["app"] == {
        "recipe": "app",
        "status": "stale",
        "reasons": ["its parent hard is rebuilt"],
        "problem": None,
        "note": None,
    }
    assert (report["order"], report["waves"]) == (["hard", "app"], [["hard"], ["app"]])
    # base's source is resolved too (the input hash of hard holds base's image), and the images
    # of all three are listed in one call
    assert report["calls"] == {"us-east-1": {"ec2:DescribeImages": 2, "ssm:GetParameters": 1}}


def test_a_revoked_newest_build_is_not_never_built(
    builds: Builds, capsys: pytest.CaptureFixture[str]
) -> None:
    ami = make_ami("al2023")
    point_parameter(BASE_PARAMETER, ami)
    ids = builds.chain(ami)
    builds.store.set_revoked(ids["base"], "CVE-2026-0001")
    assert run(builds, "base", as_json=True) == 10
    entries = json.loads(capsys.readouterr().out)["entries"]
    assert entries[0]["reasons"] == [
        f"its newest image {builds.built_on('base', ids['base']).resolved_ami} "
        f"(build {ids['base']}) was revoked (CVE-2026-0001) and no other is left"
    ]
    assert [entry["reasons"] for entry in entries[1:]] == [
        [
            f"parent image {builds.built_on('base', ids['base']).resolved_ami} "
            f"(build {ids['base']}) was revoked (CVE-2026-0001)",
            "its parent base is rebuilt",
        ],
        ["its parent hard is rebuilt"],
    ]


def test_newer_parent_build_and_max_age_are_reasons(
    builds: Builds, capsys: pytest.CaptureFixture[str]
) -> None:
    ami = make_ami("al2023")
    point_parameter(BASE_PARAMETER, ami)
    builds.clock = datetime.now(UTC) - timedelta(days=41, minutes=10)
    ids = builds.chain(ami)
    builds.clock = datetime.now(UTC) - timedelta(days=1)
    newer = builds.record("base", demo_base(ami))
    assert run(builds, "hard", as_json=True) == 10
    entries = {e["recipe"]: e for e in json.loads(capsys.readouterr().out)["entries"]}
    assert entries["hard"]["reasons"] == [
        f"parent base has a newer build {newer} (built on {ids['base']})",
        "newest image is 41 days old (max_age 30d)",
    ]


def test_a_source_that_cannot_be_resolved_exits_1(
    builds: Builds, capsys: pytest.CaptureFixture[str]
) -> None:
    builds.chain(make_ami("al2023"))
    assert run(builds, "base") == 1
    out = capsys.readouterr().out
    assert (
        "base    UNKNOWN     could not check its source: SSM parameter /bakery-demo/base "
        "not found in us-east-1" in out
    )


def test_an_unknown_name_is_an_error(builds: Builds) -> None:
    with pytest.raises(BakeryError, match="unknown recipe hrad; did you mean hard"):
        run(builds, "hrad")


def test_plan_stale_serves_other_commands(builds: Builds) -> None:
    ami = make_ami("al2023")
    point_parameter(BASE_PARAMETER, ami)
    builds.chain(ami)
    project = load_project(builds.root)
    with SqliteStore(builds.root / ".bakery" / "lineage.db") as store:
        result, calls = plan_stale(
            load_catalog(project), store, Gateway(AwsSettings("us-east-1")), ["hard"]
        )
    assert ([e.recipe for e in result.entries], result.order, calls.total) == (
        ["hard", "app"],
        (),
        3,  # base's parameter and image, and the images of the three recipes
    )
    out = io.StringIO()
    print_rebuild_plan(result, None, stream=out)
    assert out.getvalue().endswith("nothing to rebuild: every image is up to date\n")


def test_a_lost_store_is_no_rebuild_storm_the_images_tags_decide(
    builds: Builds, capsys: pytest.CaptureFixture[str]
) -> None:
    ami = make_ami("al2023")
    point_parameter(BASE_PARAMETER, ami)
    ids = builds.chain(ami)
    builds.store.close()
    store_file = builds.root / ".bakery" / "lineage.db"
    for leftover in store_file.parent.glob("lineage.db*"):
        leftover.unlink()
    store_file.write_bytes(b"")  # lost: truncated to nothing
    assert run(builds) == 0
    captured = capsys.readouterr()
    assert f"warning: the lineage store {store_file} is empty (0 bytes)" in captured.err
    assert captured.out.count("UP TO DATE") == 4
    assert f"(build {ids['app']}) found by its tags; the lineage store has no record" in (
        captured.out
    )
    assert "nothing to rebuild" in captured.out
    builds.store = SqliteStore(store_file)  # for the fixture to close


def test_an_image_gone_from_aws_is_stale_even_if_the_store_says_built(
    builds: Builds, capsys: pytest.CaptureFixture[str]
) -> None:
    ami = make_ami("al2023")
    point_parameter(BASE_PARAMETER, ami)
    ids = builds.chain(ami)
    app = builds.store.get(ids["app"])
    assert app is not None
    boto3.client("ec2", region_name="us-east-1").deregister_image(ImageId=app.ami_ids[0])
    assert run(builds, "app") == 10
    out = capsys.readouterr().out
    assert "app     STALE       no available image with input hash" in out
    assert "would rebuild 1, in order:\n  wave 1: app\n" in out
