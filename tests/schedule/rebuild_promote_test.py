"""`bakery rebuild --stale --promote CHANNEL` on the emulator with the real Packer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from bakery.local import launcher
from tests.support.project import run_bakery

pytestmark = pytest.mark.usefixtures("packer_binary")
DEMO_PARAMETER = "/bakery-demo/al2023"
PUBLIC = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
CHAIN = ["al2023-base", "cis-hardened", "web", "worker"]


def clients(root: Path) -> tuple[Any, Any]:
    emulator = launcher.status(root)
    assert emulator is not None
    kwargs = {
        "region_name": "us-east-1",
        "endpoint_url": emulator.endpoint_url,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    return boto3.client("ssm", **kwargs), boto3.client("ec2", **kwargs)


def move_base(root: Path) -> str:
    """Point the demo base parameter at another public AL2023 image, as a new release would."""
    ssm, ec2 = clients(root)
    current = ssm.get_parameter(Name=DEMO_PARAMETER)["Parameter"]["Value"]
    images = ec2.describe_images(
        Owners=["amazon"],
        Filters=[
            {"Name": "name", "Values": ["al2023-ami-2023*"]},
            {"Name": "root-device-type", "Values": ["ebs"]},
        ],
    )["Images"]
    newer = next(i["ImageId"] for i in images if i["ImageId"] != current)
    ssm.put_parameter(
        Name=DEMO_PARAMETER, Value=newer, Type="String", DataType="aws:ec2:image", Overwrite=True
    )
    return str(newer)


def channel(root: Path, recipe: str, name: str) -> str | None:
    ssm, _ = clients(root)
    try:
        return str(ssm.get_parameter(Name=f"/bakery/{recipe}/{name}")["Parameter"]["Value"])
    except ssm.exceptions.ParameterNotFound:
        return None


@pytest.fixture
def project(samples_on_emulator: Path) -> Path:
    base = samples_on_emulator / "recipes/base/al2023-base.yaml"
    base.write_text(base.read_text().replace(PUBLIC, DEMO_PARAMETER))
    run_bakery(samples_on_emulator, "bake", "--all")
    move_base(samples_on_emulator)
    return samples_on_emulator


def test_rebuild_promote_moves_the_channel_to_every_new_image_whose_gates_pass(
    project: Path,
) -> None:
    report = json.loads(
        run_bakery(project, "rebuild", "--stale", "--promote", "staging", "--json").stdout
    )
    assert report["result"] == "succeeded" and report["exit_code"] == 0
    builds = {b["recipe"]: b for b in report["builds"]}
    assert sorted(builds) == CHAIN
    assert {b["result"] for b in builds.values()} == {"succeeded"}
    assert report["not_promoted"] == []
    assert sorted((p["recipe"], p["channel"], p["build_id"]) for p in report["promoted"]) == [
        (name, "staging", builds[name]["build_id"]) for name in CHAIN
    ]
    for name in CHAIN:
        assert channel(project, name, "staging") == builds[name]["images"]["us-east-1"], name
    rows = json.loads(run_bakery(project, "channels", "web", "--json").stdout)
    staging = next(row for row in rows if row["channel"] == "staging")
    assert staging["build_id"] == builds["web"]["build_id"] and staging["drift"] is False


def test_rebuild_promote_reports_what_the_gates_refuse_and_leaves_the_channel(
    project: Path,
) -> None:
    done = run_bakery(project, "rebuild", "--stale", "--promote", "prod", "--json")
    report = json.loads(done.stdout)
    assert report["result"] == "succeeded" and report["promoted"] == []
    builds = {b["recipe"]: b for b in report["builds"]}
    refused = {entry["recipe"]: entry for entry in report["not_promoted"]}
    assert sorted(refused) == CHAIN
    web = builds["web"]["build_id"]
    assert refused["web"]["channel"] == "prod"
    assert refused["web"]["reason"].startswith(
        f"promotion to prod refused: channel prod requires web 2.3.0 ({web}) to be promoted "
        f"to staging first; run: bakery promote {web} --channel staging"
    )
    assert "web: not promoted to prod: promotion to prod refused" in done.stderr
    assert all(channel(project, name, "prod") is None for name in CHAIN)
