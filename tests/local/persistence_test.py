from __future__ import annotations

import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bakery.local import launcher, persistence
from bakery.local.seed import AL2023_PARAMETER, DEMO_PARAMETER, SEED_REGIONS

CHANNEL = "/bakery/web/prod"


def _client(service: str, region: str, emulator: launcher.LocalEmulator) -> Any:
    return boto3.client(service, region_name=region, endpoint_url=emulator.endpoint_url)


def _tags(resource: dict[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in resource.get("Tags", [])}


def _default_vpcs(emulator: launcher.LocalEmulator) -> dict[str, list[str]]:
    return {
        region: sorted(
            vpc["VpcId"]
            for vpc in _client("ec2", region, emulator).describe_vpcs(
                Filters=[{"Name": "is-default", "Values": ["true"]}]
            )["Vpcs"]
        )
        for region in SEED_REGIONS
    }


@dataclass(frozen=True)
class Baked:
    """What the first run made, and the emulator of the second run."""

    emulator: launcher.LocalEmulator
    root: Path
    source_image: str
    image: str
    copy: str
    snapshot: str
    default_vpcs: dict[str, list[str]]


def _bake(emulator: launcher.LocalEmulator) -> dict[str, str]:
    """Create what a bake leaves behind: an image, a snapshot, a copy, a channel parameter."""
    ec2 = _client("ec2", "us-east-1", emulator)
    west = _client("ec2", "us-west-2", emulator)
    ssm = _client("ssm", "us-east-1", emulator)
    source = ssm.get_parameter(Name=AL2023_PARAMETER)["Parameter"]["Value"]
    instance = ec2.run_instances(ImageId=source, MinCount=1, MaxCount=1, InstanceType="t3.micro")[
        "Instances"
    ][0]["InstanceId"]
    image = ec2.create_image(InstanceId=instance, Name="web-1.0.0")["ImageId"]
    ec2.create_tags(Resources=[image], Tags=[{"Key": "bakery:recipe", "Value": "web"}])
    volume = ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [instance]}]
    )["Volumes"][0]["VolumeId"]
    snapshot = ec2.create_snapshot(
        VolumeId=volume,
        TagSpecifications=[
            {"ResourceType": "snapshot", "Tags": [{"Key": "bakery:recipe", "Value": "web"}]}
        ],
    )["SnapshotId"]
    copy = west.copy_image(SourceImageId=image, SourceRegion="us-east-1", Name="web-1.0.0")[
        "ImageId"
    ]
    west.create_tags(Resources=[copy], Tags=[{"Key": "bakery:recipe", "Value": "web"}])
    for value in (source, image):
        ssm.put_parameter(
            Name=CHANNEL, Value=value, Type="String", DataType="aws:ec2:image", Overwrite=True
        )
    ssm.put_parameter(Name=DEMO_PARAMETER, Value=image, Overwrite=True)
    return {"source_image": source, "image": image, "copy": copy, "snapshot": snapshot}


@pytest.fixture(scope="module")
def baked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Baked]:
    """An emulator restarted after a first run baked into it."""
    root = tmp_path_factory.mktemp("persisted")
    with pytest.MonkeyPatch.context() as env:
        # conftest's isolation is per test; this module-wide fixture runs before it.
        home = tmp_path_factory.mktemp("home")
        env.setenv("HOME", str(home))
        env.setenv("AWS_CONFIG_FILE", str(home / "aws-config"))
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "aws-credentials"))
        env.delenv("AWS_PROFILE", raising=False)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        yield from _restarted(root)


def _restarted(root: Path) -> Iterator[Baked]:
    try:
        first = launcher.start(root)
        made = _bake(first)
        default_vpcs = _default_vpcs(first)
        assert launcher.stop(root)
        assert launcher.state_file(root).exists()
        second = launcher.start(root)
        assert second.pid != first.pid
        yield Baked(second, root, default_vpcs=default_vpcs, **made)
    finally:
        launcher.stop(root)


@pytest.mark.parametrize("region", ["us-east-1", "us-west-2"])
def test_images_keep_their_ids_tags_and_ebs_root_across_a_restart(
    baked: Baked, region: str
) -> None:
    image_id = baked.image if region == "us-east-1" else baked.copy
    images = _client("ec2", region, baked.emulator).describe_images(ImageIds=[image_id])["Images"]
    assert [(image["ImageId"], image["RootDeviceType"]) for image in images] == [(image_id, "ebs")]
    assert _tags(images[0]) == {"bakery:recipe": "web"}


def test_snapshot_tags_survive_a_restart(baked: Baked) -> None:
    ec2 = _client("ec2", "us-east-1", baked.emulator)
    snapshots = ec2.describe_snapshots(SnapshotIds=[baked.snapshot])["Snapshots"]
    assert [_tags(snapshot) for snapshot in snapshots] == [{"bakery:recipe": "web"}]


def test_parameter_value_version_and_history_survive_a_restart(baked: Baked) -> None:
    ssm = _client("ssm", "us-east-1", baked.emulator)
    current = ssm.get_parameter(Name=CHANNEL)["Parameter"]
    assert (current["Value"], current["Version"], current["DataType"]) == (
        baked.image,
        2,
        "aws:ec2:image",
    )
    history = ssm.get_parameter_history(Name=CHANNEL)["Parameters"]
    assert [(entry["Version"], entry["Value"]) for entry in history] == [
        (1, baked.source_image),
        (2, baked.image),
    ]


def test_moved_demo_parameter_keeps_its_value_across_a_restart(baked: Baked) -> None:
    demo = _client("ssm", "us-east-1", baked.emulator).get_parameter(Name=DEMO_PARAMETER)
    assert (demo["Parameter"]["Value"], demo["Parameter"]["Version"]) == (baked.image, 2)


def test_seeding_after_a_restore_creates_nothing_twice(baked: Baked) -> None:
    assert _default_vpcs(baked.emulator) == baked.default_vpcs
    assert all(len(vpcs) == 1 for vpcs in baked.default_vpcs.values())
    log = (launcher.state_dir(baked.root) / "server.log").read_text()
    assert "restored state from" in log


def test_fresh_start_forgets_the_saved_state(tmp_path: Path) -> None:
    try:
        first = launcher.start(tmp_path)
        ec2 = _client("ec2", "us-east-1", first)
        ec2.register_image(Name="forgotten-image")
        assert ec2.describe_images(Owners=["self"])["Images"]

        # The running emulator saves its image when fresh stops it; fresh then forgets it.
        fresh = launcher.start(tmp_path, fresh=True)
        assert fresh.pid != first.pid
        assert _client("ec2", "us-east-1", fresh).describe_images(Owners=["self"])["Images"] == []
        assert _client("ssm", "us-east-1", fresh).get_parameter(Name=DEMO_PARAMETER)
    finally:
        launcher.stop(tmp_path)


def test_unreadable_state_file_is_moved_aside_and_the_emulator_starts(tmp_path: Path) -> None:
    state = launcher.state_file(tmp_path)
    state.parent.mkdir(parents=True)
    state.write_bytes(b"not a pickle")
    try:
        emulator = launcher.start(tmp_path)
        assert launcher.status(tmp_path) == emulator
        assert _client("ssm", "us-east-1", emulator).get_parameter(Name=DEMO_PARAMETER)
        aside = state.with_name("state.pickle.unreadable")
        assert aside.read_bytes() == b"not a pickle"
        log = (launcher.state_dir(tmp_path) / "server.log").read_text()
        assert "warning: cannot restore the emulator state" in log
    finally:
        launcher.stop(tmp_path)
    assert persistence.read_state(state)["format"] == persistence.FORMAT_VERSION


@pytest.mark.parametrize(
    "saved",
    [
        {"format": persistence.FORMAT_VERSION, "moto_version": "0.0.1", "ec2": {}, "ssm": {}},
        {"format": 999, "moto_version": persistence.moto_version(), "ec2": {}, "ssm": {}},
        ["not", "a", "state"],
    ],
    ids=["other-moto", "other-format", "not-a-dict"],
)
def test_state_of_another_moto_or_format_is_moved_aside(tmp_path: Path, saved: object) -> None:
    state = tmp_path / "state.pickle"
    state.write_bytes(pickle.dumps(saved))
    assert persistence.restore_state(state) is False
    assert not state.exists()
    assert pickle.loads((tmp_path / "state.pickle.unreadable").read_bytes()) == saved


def test_secure_string_labels_and_tags_survive_in_process(tmp_path: Path) -> None:
    state = tmp_path / "state.pickle"
    with mock_aws():
        ssm = boto3.client("ssm", region_name="eu-west-1")
        ssm.put_parameter(
            Name="/bakery/secret",
            Value="s3cret",
            Type="SecureString",
            Tags=[{"Key": "k", "Value": "v"}],
        )
        ssm.label_parameter_version(Name="/bakery/secret", ParameterVersion=1, Labels=["stable"])
        persistence.save_state(state)
    with mock_aws():
        assert persistence.restore_state(state) is True
        ssm = boto3.client("ssm", region_name="eu-west-1")
        parameter = ssm.get_parameter(Name="/bakery/secret:stable", WithDecryption=True)
        assert (parameter["Parameter"]["Value"], parameter["Parameter"]["Type"]) == (
            "s3cret",
            "SecureString",
        )
        tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/bakery/secret")
        assert tags["TagList"] == [{"Key": "k", "Value": "v"}]
        # Parameters moto serves itself are not saved: they load again as moto has them.
        assert ssm.get_parameter(Name=AL2023_PARAMETER)["Parameter"]["Version"] >= 1
