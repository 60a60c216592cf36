"""How the command line ends when its output or its store goes away: a clear exit, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import boto3
import pytest
from moto import mock_aws

from bakery.cli import main
from bakery.lineage.sqlite.store import SqliteStore
from tests.support.amis import make_ami
from tests.support.project import REPO, ProjectFactory
from tests.support.records import east, make_record, succeeded
from tests.support.stores import read_only_connections


def chain(depth: int) -> dict[str, str]:
    """Recipes r0 ← r1 ← ... each built on the one before."""
    files = {}
    for index in range(depth):
        source = "{ami: ami-12345678}" if index == 0 else f"{{recipe: r{index - 1}}}"
        layer = "base" if index == 0 else "app"
        files[f"recipes/r{index}.yaml"] = (
            f"name: r{index}\nlayer: {layer}\nversion: 1.0.0\nsource: {source}\n"
        )
    return files


def test_output_closed_early_ends_quietly_with_exit_1(make_project: ProjectFactory) -> None:
    root = make_project(chain(300))  # its tree is far more than a pipe holds
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "bakery", "-C", str(root), "graph"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline() == "r0 1.0.0 (base) ← ami ami-12345678\n".encode()
    process.stdout.close()  # as `| head -1` does
    stderr = process.stderr.read()
    assert process.wait(timeout=60) == 1
    assert stderr == b""


def test_graph_of_a_chain_deeper_than_the_recursion_limit(
    make_project: ProjectFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    depth = sys.getrecursionlimit() + 200
    root = make_project(chain(depth))
    assert main(["-C", str(root), "graph"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == depth and lines[-1].endswith(f"└── r{depth - 1} 1.0.0 (app)")


def test_a_read_only_store_ends_promote_with_exit_1_naming_the_store(
    make_project: ProjectFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = make_project({}, "aws: {region: us-east-1}\nchannels: {staging: {}}\n")
    path = root / ".bakery" / "lineage.db"
    record = make_record()
    with mock_aws():
        ami = make_ami("web-1.0.0", from_instance=True)
        with SqliteStore(path) as store:
            store.start(record)
            store.finish(succeeded(record, east(ami)))
        read_only_connections(monkeypatch)
        code = main(["-C", str(root), "promote", record.build_id, "--channel", "staging"])
        ssm = boto3.client("ssm", region_name="us-east-1")
        # checked before AWS is touched: the channel did not move without a record of it
        with pytest.raises(ssm.exceptions.ParameterNotFound):
            ssm.get_parameter(Name=f"/bakery/{record.recipe}/staging")
    assert code == 1
    assert capsys.readouterr().err == (
        f"bakery: error: the lineage store {path} is read-only (attempt to write a readonly "
        "database); make the file and its folder writable for this user, or point state in "
        "bakery.yaml at a writable store\n"
    )


@pytest.mark.parametrize(
    "command",
    [
        ["copy", "{build}", "--to", "eu-west-1"],
        ["share", "{build}", "--accounts", "111122223333"],
        ["revoke", "{build}", "--reason", "CVE"],
        ["prune", "--keep", "0", "--apply"],
    ],
)
def test_a_read_only_store_stops_each_aws_change_before_it_is_made(
    command: list[str],
    make_project: ProjectFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = make_project({}, "aws: {region: us-east-1}\nshare_allowlist: ['111122223333']\n")
    path = root / ".bakery" / "lineage.db"
    record = make_record()
    with mock_aws():
        ami = make_ami("web-1.0.0", from_instance=True, tags={"bakery:managed": "true"})
        with SqliteStore(path) as store:
            store.start(record)
            store.finish(succeeded(record, east(ami)))
        ec2 = boto3.client("ec2", region_name="us-east-1")
        before = ec2.describe_images(ImageIds=[ami])["Images"][0]
        read_only_connections(monkeypatch)
        code = main(["-C", str(root), *(part.format(build=record.build_id) for part in command)])
        west = boto3.client("ec2", region_name="eu-west-1")
        assert west.describe_images(Owners=["self"])["Images"] == []  # no copy
        after = ec2.describe_images(ImageIds=[ami])["Images"][0]
        assert after == before  # not shared, tagged or deregistered
        launch = ec2.describe_image_attribute(ImageId=ami, Attribute="launchPermission")
        assert launch["LaunchPermissions"] == []
    assert code == 1
    assert capsys.readouterr().err.startswith(
        f"bakery: error: the lineage store {path} is read-only"
    )
