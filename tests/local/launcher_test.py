from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bakery.errors import BakeryError
from bakery.local import launcher, server
from bakery.local.seed import (
    AL2023_PARAMETER,
    DEMO_PARAMETER,
    SEED_REGIONS,
    ensure_default_subnets,
)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[launcher.LocalEmulator]:
    root = tmp_path_factory.mktemp("seeded")
    try:
        yield launcher.start(root)
    finally:
        launcher.stop(root)


def _client(service: str, region: str, emulator: launcher.LocalEmulator) -> Any:
    return boto3.client(service, region_name=region, endpoint_url=emulator.endpoint_url)


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_start_status_stop_lifecycle(tmp_path: Path) -> None:
    try:
        started = launcher.start(tmp_path)
        assert launcher.status(tmp_path) == started
        assert launcher.start(tmp_path) == started
        state = json.loads((tmp_path / ".bakery/local/emulator.json").read_text())
        assert (state["pid"], state["port"]) == (started.pid, started.port)
        assert started.endpoint_url == f"http://127.0.0.1:{started.port}"
        assert (tmp_path / ".bakery/local/server.log").exists()
    finally:
        assert launcher.stop(tmp_path) is True

    assert launcher.status(tmp_path) is None
    assert not (tmp_path / ".bakery/local/emulator.json").exists()
    with pytest.raises(ProcessLookupError):
        os.kill(started.pid, 0)
    assert launcher.stop(tmp_path) is False


def test_status_ignores_a_state_file_whose_process_is_gone(tmp_path: Path) -> None:
    gone = launcher.LocalEmulator(_dead_pid(), launcher.free_port(), datetime.now(UTC))
    folder = tmp_path / ".bakery/local"
    folder.mkdir(parents=True)
    state = {"pid": gone.pid, "port": gone.port, "started_at": gone.started_at.isoformat()}
    (folder / "emulator.json").write_text(json.dumps(state))

    assert launcher.status(tmp_path) is None
    assert launcher.stop(tmp_path) is False
    assert not (folder / "emulator.json").exists()


def test_start_reports_the_log_tail_when_the_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(BakeryError, match="Address already in use"):
            launcher.start(tmp_path, port)
    assert launcher.status(tmp_path) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::"])
def test_server_refuses_a_host_other_than_loopback(
    host: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        server.main(["--port", "0", "--host", host])
    assert exit_info.value.code == 2
    assert "127.0.0.1 only" in capsys.readouterr().err


def test_local_environment_holds_dummy_credentials_and_the_endpoint() -> None:
    running = launcher.LocalEmulator(1234, 4566, datetime.now(UTC))
    env = launcher.local_environment(running, "eu-west-1")
    assert env["AWS_ACCESS_KEY_ID"] == env["AWS_SECRET_ACCESS_KEY"] == "testing"
    assert env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    assert "127.0.0.1" in env["NO_PROXY"].split(",")


@pytest.mark.parametrize("region", ["us-east-1", "us-west-2", "eu-west-1"])
def test_public_al2023_parameter_names_an_available_image(
    emulator: launcher.LocalEmulator, region: str
) -> None:
    ssm = _client("ssm", region, emulator)
    image_id = ssm.get_parameter(Name=AL2023_PARAMETER)["Parameter"]["Value"]
    images = _client("ec2", region, emulator).describe_images(ImageIds=[image_id])["Images"]
    assert [(image["State"], image["RootDeviceType"]) for image in images] == [("available", "ebs")]


def test_demo_parameter_points_at_the_public_al2023_image(
    emulator: launcher.LocalEmulator,
) -> None:
    ssm = _client("ssm", "us-east-1", emulator)
    demo = ssm.get_parameter(Name=DEMO_PARAMETER)["Parameter"]
    public = ssm.get_parameter(Name=AL2023_PARAMETER)["Parameter"]
    assert (demo["Type"], demo["DataType"]) == ("String", "aws:ec2:image")
    assert demo["Value"] == public["Value"]


def default_network(ec2: Any) -> tuple[list[str], list[tuple[str, str, bool, str]]]:
    """The default VPCs, and (zone, VPC, public IP on launch, state) of each default subnet."""
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])
    return [vpc["VpcId"] for vpc in vpcs], sorted(
        (s["AvailabilityZone"], s["VpcId"], s["MapPublicIpOnLaunch"], s["State"])
        for s in subnets["Subnets"]
    )


def zones(ec2: Any) -> list[str]:
    return sorted(z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"])


@pytest.mark.parametrize("region", SEED_REGIONS)
def test_every_zone_of_a_seed_region_has_a_public_default_subnet_in_the_default_vpc(
    emulator: launcher.LocalEmulator, region: str
) -> None:
    # Packer launches its builder without a subnet_id: EC2 picks the default subnet of a zone.
    ec2 = _client("ec2", region, emulator)
    [vpc], subnets = default_network(ec2)
    assert subnets == [(zone, vpc, True, "available") for zone in zones(ec2)]


def test_seeding_creates_default_subnets_where_none_are_and_keeps_existing_ones() -> None:
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="eu-west-1")
        [vpc], subnets = default_network(ec2)
        for subnet in ec2.describe_subnets()["Subnets"]:
            ec2.delete_subnet(SubnetId=subnet["SubnetId"])
        ec2.delete_vpc(VpcId=vpc)
        assert default_network(ec2) == ([], [])

        ensure_default_subnets(ec2)
        [created], subnets = default_network(ec2)
        assert subnets == [(zone, created, True, "available") for zone in zones(ec2)]

        ensure_default_subnets(ec2)
        assert default_network(ec2) == ([created], subnets)


@pytest.mark.parametrize("port", [0, -1, 65536, 99999999])
def test_start_refuses_a_port_outside_1_to_65535_before_starting_anything(
    tmp_path: Path, port: int
) -> None:
    with pytest.raises(BakeryError) as caught:
        launcher.start(tmp_path, port)
    assert str(caught.value) == (
        f"port {port} is not a TCP port; give one from 1 to 65535, or none for a free one"
    )
    assert not (tmp_path / ".bakery/local/emulator.json").exists()


def test_start_on_another_port_than_the_running_emulator_says_so(
    tmp_path: Path, shared_emulator: launcher.LocalEmulator
) -> None:
    launcher.adopt(tmp_path, shared_emulator)
    other = shared_emulator.port + 1 if shared_emulator.port < 65535 else 1024
    with pytest.raises(BakeryError) as caught:
        launcher.start(tmp_path, other)
    assert str(caught.value) == (
        f"the local emulator already runs at {shared_emulator.endpoint_url}, not on port "
        f"{other}; stop it first (`bakery local stop`) or start it without --port"
    )
    assert launcher.start(tmp_path, shared_emulator.port) == shared_emulator
    assert launcher.status(tmp_path) == shared_emulator


def test_the_port_of_the_ready_file_is_read_whole_or_not_at_all(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    assert launcher._ready_port(ready) is None
    ready.write_text("")
    assert launcher._ready_port(ready) is None
    ready.write_text("4567\n")
    assert launcher._ready_port(ready) == 4567
