"""Converted templates bake: `bakery convert` of each production-shaped template, then `bakery
bake --local` of what it wrote, with the real Packer against the emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bakery.local import launcher
from tests.support.packer_templates import FIXTURES
from tests.support.project import call_bakery, commit_all
from tests.support.project import run_bakery as bakery

pytestmark = pytest.mark.usefixtures("packer_binary")


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_a_converted_template_validates_and_bakes_locally(
    name: str, tmp_path: Path, shared_emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.emulator import reset

    fixture = FIXTURES[name]
    root = fixture.copy_to(tmp_path)
    monkeypatch.chdir(root)
    monkeypatch.setenv("BUILD_HTTP_PROXY", "http://proxy.internal:3128")  # the ECS template's
    call_bakery(root, *fixture.convert_args())
    var_files = sorted(str(p.relative_to(root)) for p in (root / "recipes").glob("*.vars.json"))
    given = [arg for var_file in var_files for arg in ("--var-file", var_file)]
    call_bakery(root, "validate", *given)
    commit_all(root, "converted")
    reset(shared_emulator)
    launcher.adopt(root, shared_emulator)
    if name == "ecs":
        # The ECS template names its source AMI by id, a parameter now: give it one the
        # emulator holds, as a team passes its own with --var.
        given += ["--var", f"source_ami_al2023={_emulator_al2023(root)}"]
    outcomes = json.loads(bakery(root, "bake", "--local", "--all", "--json", *given).stdout)
    assert outcomes, "the converted project has recipes to bake"
    assert {o["recipe"]: o["result"] for o in outcomes} == {
        o["recipe"]: "succeeded" for o in outcomes
    }


def _emulator_al2023(root: Path) -> str:
    import boto3

    emulator = launcher.status(root)
    assert emulator is not None
    ssm = boto3.client(
        "ssm",
        region_name="us-west-2",
        endpoint_url=emulator.endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    return str(ssm.get_parameter(Name=name)["Parameter"]["Value"])
