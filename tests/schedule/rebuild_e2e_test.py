"""Scheduled rebuilds on the emulator with the real Packer: a base moves, exactly its chain."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from bakery.local import launcher
from tests.support.project import REPO, call_bakery, run_bakery

pytestmark = pytest.mark.usefixtures("packer_binary")
DEMO_PARAMETER = "/bakery-demo/al2023"
PUBLIC = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"


@pytest.fixture(params=["sqlite", "dynamodb"])
def project(
    samples_on_emulator: Path, request: pytest.FixtureRequest, webhook: tuple[str, list[Any]]
) -> Path:
    base = samples_on_emulator / "recipes/base/al2023-base.yaml"
    base.write_text(base.read_text().replace(PUBLIC, DEMO_PARAMETER))
    settings = samples_on_emulator / "bakery.yaml"
    settings.write_text(settings.read_text() + f"notify: {{webhook: '{webhook[0]}'}}\n")
    if request.param == "dynamodb":  # one table on the emulator, shared by both runners
        settings = samples_on_emulator / "bakery.yaml"
        settings.write_text(
            settings.read_text().replace(
                "state: sqlite:.bakery/lineage.db",
                "state: dynamodb://bakery-lineage?region=us-east-1",
            )
        )
        run_bakery(samples_on_emulator, "state", "init")
    return samples_on_emulator


def move_base(root: Path) -> str:
    emulator = launcher.status(root)
    assert emulator is not None
    kwargs = {
        "region_name": "us-east-1",
        "endpoint_url": emulator.endpoint_url,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    ssm, ec2 = boto3.client("ssm", **kwargs), boto3.client("ec2", **kwargs)
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


def plan(root: Path) -> tuple[int, dict[str, object]]:
    done = call_bakery(root, "plan", "--json", check=False)
    assert done.returncode in (0, 10), done.stderr
    return done.returncode, json.loads(done.stdout)


def test_moved_base_rebuilds_exactly_its_chain_once_even_with_two_runners(
    project: Path, webhook: tuple[str, list[Any]]
) -> None:
    run_bakery(project, "bake", "--all")
    assert plan(project)[0] == 0
    newer = move_base(project)
    code, report = plan(project)
    assert code == 10
    entries = {e["recipe"]: e for e in report["entries"]}  # type: ignore[union-attr]
    assert any(
        "base moved" in reason and newer in reason for reason in entries["al2023-base"]["reasons"]
    )
    assert report["order"] == ["al2023-base", "cis-hardened", "web", "worker"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "BAKERY_LOCAL": "1"}
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "bakery", "rebuild", "--stale", "--json"],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for run in runs:
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
        assert json.loads(out)["result"] in ("succeeded", "nothing to do")
    for name in ("al2023-base", "cis-hardened", "web", "worker"):
        history = json.loads(call_bakery(project, "history", name, "--json").stdout)
        assert [row["status"] for row in history] == ["succeeded", "succeeded"], name
    assert plan(project)[0] == 0
    again = json.loads(run_bakery(project, "rebuild", "--stale", "--json").stdout)
    assert again["result"] == "nothing to do"
    payloads = webhook[1]
    assert len(payloads) == 3  # every run notifies, whatever it did
    built = [b for p in payloads[:2] for b in p.get("builds", []) if b["result"] == "succeeded"]
    assert sorted(b["recipe"] for b in built) == ["al2023-base", "cis-hardened", "web", "worker"]
    first = next(p for p in payloads[:2] if p.get("builds"))
    assert first["command"] == "rebuild" and first["exit_code"] == 0
    assert {s["recipe"] for s in first["stale"]} == {"al2023-base", "cis-hardened", "web", "worker"}
    assert payloads[2]["result"] == "nothing to do" and payloads[2]["run_id"]
