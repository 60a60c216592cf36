"""The build-settings sample (every build setting and step kind) with the real Packer: the 1.6
templates pass `packer validate`, the 1.7+ ones the plugin's spec, and both recipes bake in local
mode, with the download kept, the organization shares and a rerun that builds nothing."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest

from bakery.local import launcher
from tests.support.packer_spec import template_problems
from tests.support.project import call_bakery
from tests.support.project import run_bakery as bakery

pytestmark = pytest.mark.usefixtures("packer_binary")
RECIPES = ("node-base", "node-spot")
ORGANIZATION = "arn:aws:organizations::111122223333:organization/o-exampleorg1"
UNIT = "arn:aws:organizations::111122223333:ou/o-exampleorg1/ou-ab12-workload1"


def client(root: Path, service: str) -> object:
    emulator = launcher.status(root)
    assert emulator is not None
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=emulator.endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_every_setting_renders_for_both_dialects(example: Callable[[str], Path]) -> None:
    root = example("build-settings")
    # 1.6: the real Packer validates the templates of a real (not local) build.
    done = call_bakery(root, "render", "--dialect", "1.6", "--out", "r16", "--validate")
    assert "fmt and validate ok" in done.stdout
    call_bakery(root, "render", "--dialect", "1.7+", "--out", "r17")
    for name in RECIPES:
        old = (root / "r16" / name / f"{name}.pkr.hcl").read_text(encoding="utf-8")
        new = (root / "r17" / name / f"{name}.pkr.hcl").read_text(encoding="utf-8")
        assert template_problems(new) == []
        # What 1.6 cannot write is said, not silently dropped.
        if name == "node-base":
            assert "metadata_options {" in new and "Left out: metadata_options" in old
            assert "deprecate_at" in new and "deprecate_at" not in old.split("# Packer 1.6")[0]
    spot = (root / "r16" / "node-spot" / "node-spot.pkr.hcl").read_text(encoding="utf-8")
    assert "spot_instance_types" in spot and "instance_type  " not in spot


def test_every_setting_bakes_in_local_mode(example: Callable[[str], Path]) -> None:
    root = example("build-settings")
    # An account has the instance profile Session Manager needs; the emulator gets one too.
    iam = client(root, "iam")
    iam.create_instance_profile(InstanceProfileName="packer-ssm-builder")  # type: ignore[attr-defined]
    outcomes = json.loads(bakery(root, "bake", "--local", "--all", "--json").stdout)
    assert {o["recipe"]: o["result"] for o in outcomes} == dict.fromkeys(RECIPES, "succeeded")

    base = json.loads(call_bakery(root, "history", "node-base", "--json").stdout)[0]
    (artifact,) = base["artifacts"]
    assert artifact["name"] == "release.txt"
    kept = root / ".bakery" / "builds" / base["build_id"] / "artifacts" / "release.txt"
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == artifact["sha256"]

    # Packer 1.6 cannot share with organizations: bakery did, and recorded it.
    ami = base["amis"]["us-east-1"]
    ec2 = client(root, "ec2")
    holders = ec2.describe_image_attribute(  # type: ignore[attr-defined]
        ImageId=ami, Attribute="launchPermission"
    )["LaunchPermissions"]
    assert {"OrganizationArn": ORGANIZATION} in holders
    assert {"OrganizationalUnitArn": UNIT} in holders

    again = json.loads(bakery(root, "bake", "--local", "--all", "--json").stdout)
    assert {o["recipe"]: o["result"] for o in again} == dict.fromkeys(RECIPES, "up to date")
