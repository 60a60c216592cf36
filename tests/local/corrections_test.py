from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.responses import DynamoHandler
from moto.ec2.models.amis import Ami
from moto.ec2.responses.amis import AmisResponse

from bakery.local import launcher
from bakery.local.corrections import apply_corrections
from bakery.local.seed import AL2023_PARAMETER

TEMPLATE = """\
variable "source_ami" { type = string }
variable "endpoint" { type = string }
variable "ami_name" { type = string }

source "amazon-ebs" "layer" {
  communicator        = "none"
  custom_endpoint_ec2 = var.endpoint
  region              = "us-east-1"
  instance_type       = "t3.micro"
  source_ami          = var.source_ami
  ami_name            = var.ami_name
  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_size           = 8
    volume_type           = "gp3"
    iops                  = 3000
    throughput            = 125
    delete_on_termination = true
  }
}

build {
  sources = ["source.amazon-ebs.layer"]
}
"""


@pytest.fixture
def stock_moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """In-process moto whose Ami class is restored afterwards, whatever a test applies."""
    monkeypatch.setattr(Ami, "__init__", Ami.__init__)
    monkeypatch.setattr(DynamoHandler, "call_action", DynamoHandler.call_action)
    monkeypatch.setattr(AmisResponse, "copy_image", AmisResponse.copy_image)
    with mock_aws():
        yield


def _created_image(region: str = "us-east-1") -> dict[str, Any]:
    ec2 = boto3.client("ec2", region_name=region)
    source = boto3.client("ssm", region_name=region).get_parameter(Name=AL2023_PARAMETER)
    instance = ec2.run_instances(
        ImageId=source["Parameter"]["Value"], MinCount=1, MaxCount=1, InstanceType="t3.micro"
    )["Instances"][0]
    image_id = ec2.create_image(InstanceId=instance["InstanceId"], Name="parent-layer")["ImageId"]
    image: dict[str, Any] = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    return image


def test_stock_moto_gives_created_images_a_standard_root_device(stock_moto: None) -> None:
    assert _created_image()["RootDeviceType"] == "standard"


def test_corrected_moto_gives_created_registered_and_copied_images_an_ebs_root_device(
    stock_moto: None,
) -> None:
    apply_corrections()
    created = _created_image()
    ec2 = boto3.client("ec2", region_name="us-east-1")
    registered = ec2.register_image(Name="registered-layer")["ImageId"]
    west = boto3.client("ec2", region_name="us-west-2")
    copied = west.copy_image(
        SourceImageId=created["ImageId"], SourceRegion="us-east-1", Name="copied-layer"
    )["ImageId"]

    assert created["RootDeviceType"] == "ebs"
    assert ec2.describe_images(ImageIds=[registered])["Images"][0]["RootDeviceType"] == "ebs"
    assert west.describe_images(ImageIds=[copied])["Images"][0]["RootDeviceType"] == "ebs"


def test_corrections_leave_instance_store_images_alone(stock_moto: None) -> None:
    apply_corrections()
    ec2 = boto3.client("ec2", region_name="us-east-1")
    found = ec2.describe_images(
        Filters=[{"Name": "root-device-type", "Values": ["instance-store"]}]
    )["Images"]
    assert [image["RootDeviceType"] for image in found] == ["instance-store"]


def test_apply_corrections_twice_wraps_moto_once(stock_moto: None) -> None:
    apply_corrections()
    corrected = Ami.__init__
    apply_corrections()
    assert Ami.__init__ is corrected


def test_stock_copy_image_is_found_as_self_owned_in_the_target_region(stock_moto: None) -> None:
    # Checked before deciding on corrections: moto's copy_image needs none here.
    created = _created_image()
    west = boto3.client("ec2", region_name="us-west-2")
    copied = west.copy_image(
        SourceImageId=created["ImageId"], SourceRegion="us-east-1", Name="copied-layer"
    )["ImageId"]
    owned = west.describe_images(Owners=["self"])["Images"]
    assert [image["ImageId"] for image in owned] == [copied]
    assert owned[0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"].startswith("snap-")


def _copies_with_one_token() -> set[str]:
    created = _created_image()
    west = boto3.client("ec2", region_name="us-west-2")
    return {
        west.copy_image(
            SourceImageId=created["ImageId"],
            SourceRegion="us-east-1",
            Name="copied-layer",
            ClientToken="bakery-copy-token",
        )["ImageId"]
        for _ in range(2)  # a retry after a lost answer sends the same request again
    }


def test_stock_copy_image_ignores_its_client_token(stock_moto: None) -> None:
    assert len(_copies_with_one_token()) == 2  # EC2 would make one


def test_corrected_copy_image_makes_one_image_per_client_token(stock_moto: None) -> None:
    apply_corrections()
    (copied,) = _copies_with_one_token()
    owned = boto3.client("ec2", region_name="us-west-2").describe_images(Owners=["self"])
    assert [image["ImageId"] for image in owned["Images"]] == [copied]


@pytest.fixture
def corrected_server(tmp_path: Path) -> Iterator[launcher.LocalEmulator]:
    root = tmp_path / "corrected"
    try:
        yield launcher.start(root)
    finally:
        launcher.stop(root)


@pytest.fixture
def stock_server(tmp_path: Path) -> Iterator[launcher.LocalEmulator]:
    """A server without corrections, started by hand since `bakery local` always corrects."""
    port, ready = launcher.free_port(), tmp_path / "stock-ready"
    command = [sys.executable, "-m", "bakery.local.server", "--no-corrections"]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--ready-file", str(ready)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + launcher.START_TIMEOUT
        while not ready.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), "the stock server did not start"
        yield launcher.LocalEmulator(process.pid, port, started_at=datetime.now(UTC))
    finally:
        process.terminate()
        process.wait(timeout=10)


def _packer_build(
    packer: str, tmp_path: Path, emulator: launcher.LocalEmulator, source_ami: str, name: str
) -> subprocess.CompletedProcess[str]:
    """Run `packer build` of the one-layer template in its own folder named NAME."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "layer.pkr.hcl").write_text(TEMPLATE)
    env = {**os.environ, **launcher.local_environment(emulator, "us-east-1")}
    env["CHECKPOINT_DISABLE"] = "1"
    variables = {"source_ami": source_ami, "endpoint": emulator.endpoint_url, "ami_name": name}
    args = [arg for key, value in variables.items() for arg in ("-var", f"{key}={value}")]
    return subprocess.run(
        [packer, "build", "-machine-readable", *args, "layer.pkr.hcl"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _artifact_id(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout[-2000:]
    ids = [line.split(",")[-1] for line in result.stdout.splitlines() if ",artifact,0,id," in line]
    region, image_id = ids[0].split(":")
    assert region == "us-east-1"
    return image_id


def _public_al2023(emulator: launcher.LocalEmulator) -> str:
    ssm = boto3.client("ssm", region_name="us-east-1", endpoint_url=emulator.endpoint_url)
    return str(ssm.get_parameter(Name=AL2023_PARAMETER)["Parameter"]["Value"])


@pytest.mark.packer
def test_packer_builds_a_child_layer_on_its_parent_with_corrections(
    packer_binary: str, tmp_path: Path, corrected_server: launcher.LocalEmulator
) -> None:
    base = _public_al2023(corrected_server)
    parent = _artifact_id(_packer_build(packer_binary, tmp_path, corrected_server, base, "parent"))
    child = _artifact_id(_packer_build(packer_binary, tmp_path, corrected_server, parent, "child"))

    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=corrected_server.endpoint_url)
    images = ec2.describe_images(ImageIds=[parent, child])["Images"]
    assert {image["RootDeviceType"] for image in images} == {"ebs"}


@pytest.mark.packer
def test_packer_refuses_a_parent_layer_as_source_without_corrections(
    packer_binary: str, tmp_path: Path, stock_server: launcher.LocalEmulator
) -> None:
    base = _public_al2023(stock_server)
    parent = _artifact_id(_packer_build(packer_binary, tmp_path, stock_server, base, "parent"))
    child = _packer_build(packer_binary, tmp_path, stock_server, parent, "child")

    assert child.returncode != 0
    assert "The provided source AMI has an invalid root device type." in child.stdout
    assert "Expected 'ebs'%!(PACKER_COMMA) got 'standard'." in child.stdout


def _race_for_one_item(monkeypatch: pytest.MonkeyPatch) -> int:
    """Two threads put the same key with attribute_not_exists; return how many succeeded.

    moto's condition check is slowed down so that both threads check before either writes,
    the interleaving that a busy emulator can meet by chance.
    """
    import threading
    import time

    import moto.dynamodb.models.table as table_module

    check = table_module.get_filter_expression

    def slow_check(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.2)
        return check(*args, **kwargs)

    monkeypatch.setattr(table_module, "get_filter_expression", slow_check)
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(
        TableName="leases",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
    )
    won: list[str] = []

    def take(holder: str) -> None:
        try:
            dynamodb.put_item(
                TableName="leases",
                Item={"PK": {"S": "LEASE#web"}, "holder": {"S": holder}},
                ConditionExpression="attribute_not_exists(PK)",
            )
            won.append(holder)
        except dynamodb.exceptions.ConditionalCheckFailedException:
            pass

    threads = [threading.Thread(target=take, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(won)


def test_stock_moto_lets_two_racing_conditional_writes_both_pass(
    stock_moto: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _race_for_one_item(monkeypatch) == 2


def test_corrected_moto_lets_only_one_racing_conditional_write_pass(
    stock_moto: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_corrections()
    assert _race_for_one_item(monkeypatch) == 1
