from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bakery.commands import prune
from bakery.config.catalog import load_catalog
from bakery.config.project import Project, Retention, load_project
from bakery.errors import BakeryError, InvalidInputError
from bakery.lifecycle.prune import retention_lookup
from tests.support.amis import make_ami
from tests.support.project import ProjectFactory

WEB = """\
name: web
layer: app
version: 1.0.0
source:
  ami: ami-12345678
distribute:
  regions: [us-west-2]
"""
API = WEB.replace("name: web", "name: api")


@pytest.fixture
def project(make_project: ProjectFactory) -> Iterator[Path]:
    with mock_aws():
        yield make_project({"recipes/web.yaml": WEB})


def args(root: Path, *names: str, **options: Any) -> argparse.Namespace:
    defaults = {"keep": None, "max_age": None, "apply": False, "include_shared": False}
    defaults |= {"json": False, "local": False, "debug": False}
    return argparse.Namespace(project=str(root), names=list(names), **(defaults | options))


def bake(region: str, recipe: str, days: int) -> str:
    """Register an image as a bake leaves it: managed, tagged with recipe and build date."""
    date = (datetime.now(UTC) - timedelta(days=days)).isoformat()
    tags = {"bakery:managed": "true", "bakery:recipe": recipe, "bakery:build-date": date}
    return make_ami(f"{recipe}-{days}", region, tags=tags)


def images(region: str) -> set[str]:
    ec2 = boto3.client("ec2", region_name=region)
    return {image["ImageId"] for image in ec2.describe_images(Owners=["self"])["Images"]}


def test_prune_dry_run_prints_the_plan_and_deletes_nothing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    east = [bake("us-east-1", "web", days) for days in (1, 2, 3, 40)]
    west = bake("us-west-2", "web", 50)
    assert prune.run(args(project)) == 0
    out = capsys.readouterr().out
    assert f"DELETE  us-east-1  {east[3]}" in out
    assert "beyond the newest 3 of web" in out
    assert f"KEEP    us-west-2  {west}" in out
    assert "would delete 1 image(s) and 1 snapshot(s); keeping 4 image(s)" in out
    assert "dry run: rerun with --apply to delete them" in out
    assert images("us-east-1") >= set(east)


def test_prune_apply_deletes_in_every_region_and_reports_json(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    east = [bake("us-east-1", "web", days) for days in (1, 2, 3)]
    west = [bake("us-west-2", "web", days) for days in (10, 20)]
    assert prune.run(args(project, keep=1, apply=True, json=True)) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["applied"] is True
    assert report["problems"] == []
    assert report["regions"] == ["us-east-1", "us-west-2"]
    assert report["summary"] == {"images_to_delete": 3, "snapshots_to_delete": 3, "images_kept": 2}
    assert report["calls"]["us-west-2"]["ec2:DescribeImages"] == 1
    assert images("us-east-1") & set(east) == {east[0]}
    assert images("us-west-2") & set(west) == {west[0]}


def test_prune_keeps_images_younger_than_max_age(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    young, old = bake("us-east-1", "web", 5), bake("us-east-1", "web", 100)
    assert prune.run(args(project, keep=0, max_age=30, json=True)) == 0
    decisions = {d["ami_id"]: d for d in json.loads(capsys.readouterr().out)["decisions"]}
    assert decisions[young]["reasons"] == ["5 days old, within the max age of 30 days"]
    assert decisions[old]["reasons"] == ["beyond the newest 0 of web and 100 days old"]
    assert decisions[old]["delete"] is True


def test_prune_only_considers_named_recipes(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bake("us-east-1", "web", 100)
    api = bake("us-east-1", "api", 100)
    assert prune.run(args(project, "api", keep=0, json=True)) == 0
    captured = capsys.readouterr()
    assert [d["ami_id"] for d in json.loads(captured.out)["decisions"]] == [api]
    assert "no recipe api in this project" in captured.err


def test_prune_refuses_a_negative_keep(project: Path) -> None:
    with pytest.raises(BakeryError, match="--keep must be 0 or more"):
        prune.run(args(project, keep=-1))


def test_retention_comes_from_flags_then_recipe_then_project_then_default(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    root = make_project(
        {"recipes/web.yaml": WEB + "retention: {keep: 2}\n", "recipes/api.yaml": API},
        "aws: {region: us-east-1}\nretention: {keep: 5, max_age_days: 60}\n",
    )
    project = load_project(root)
    recipes = load_catalog(project).recipes
    lookup = retention_lookup(project, recipes, None, None)
    assert lookup("web") == Retention(2, 60)
    assert lookup("api") == Retention(5, 60)
    assert lookup("gone") == Retention(5, 60)  # images of a recipe no longer in the project
    assert retention_lookup(project, recipes, 1, None)("web") == Retention(1, 60)
    assert retention_lookup(project, recipes, None, 7)("api") == Retention(5, 7)
    assert retention_lookup(project, recipes, 0, None)("web") == Retention(0, 60)
    bare = retention_lookup(Project(root=tmp_path), {}, None, None)
    assert bare("web") == Retention(3, None)


def test_retention_comes_from_bakery_yaml_and_the_recipe(make_project: ProjectFactory) -> None:
    root = make_project(
        {"recipes/web.yaml": WEB + "retention: {keep: 1}\n", "recipes/api.yaml": API},
        "aws: {region: us-east-1}\nretention: {keep: 4, max_age_days: 30}\n",
    )
    project = load_project(root)
    lookup = retention_lookup(project, load_catalog(project).recipes, None, None)
    assert (lookup("web"), lookup("api")) == (Retention(1, 30), Retention(4, 30))


def test_retention_in_bakery_yaml_must_be_a_whole_number(make_project: ProjectFactory) -> None:
    root = make_project(
        {"recipes/web.yaml": WEB}, "aws: {region: us-east-1}\nretention: {keep: many}\n"
    )
    with pytest.raises(InvalidInputError) as raised:
        load_project(root)
    assert [str(problem) for problem in raised.value.problems] == [
        "bakery.yaml:2:13: E1003 retention.keep: must be an integer, not a string"
    ]
