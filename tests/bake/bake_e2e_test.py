"""The whole pipeline with the real Packer against the local emulator."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import boto3
import pytest

from bakery.local import launcher
from tests.support.project import call_bakery
from tests.support.project import run_bakery as bakery

pytestmark = pytest.mark.usefixtures("packer_binary")


@pytest.fixture
def project(samples_on_emulator: Path) -> Path:
    return samples_on_emulator


def bake_json(root: Path, *args: str) -> dict[str, dict[str, Any]]:
    done = bakery(root, "bake", "--json", *args)
    return {item["recipe"]: item for item in json.loads(done.stdout)}


def ec2(root: Path, region: str = "us-east-1") -> Any:
    emulator = launcher.status(root)
    assert emulator is not None
    return boto3.client(
        "ec2",
        region_name=region,
        endpoint_url=emulator.endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def tags(resource: dict[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in resource.get("Tags", [])}


def test_bake_builds_the_chain_tags_every_image_and_records_lineage(project: Path) -> None:
    result = bake_json(project, "--all")
    assert {name: item["result"] for name, item in result.items()} == {
        "al2023-base": "succeeded",
        "cis-hardened": "succeeded",
        "web": "succeeded",
        "worker": "succeeded",
    }
    assert set(result["web"]["images"]) == {"us-east-1", "us-west-2"}
    # each child started from its parent's new image
    builds = {
        name: json.loads(call_bakery(project, "lineage", name, "--json").stdout)
        for name in ("web", "cis-hardened")
    }
    web_node = next(n for n in builds["web"]["nodes"] if n.get("recipe") == "web")
    assert web_node["source"]["resolved_ami"] == result["cis-hardened"]["images"]["us-east-1"]
    for name, item in result.items():
        for region, ami in item["images"].items():
            client = ec2(project, region)
            image = client.describe_images(ImageIds=[ami])["Images"][0]
            image_tags = tags(image)
            assert image_tags["bakery:recipe"] == name
            assert image_tags["bakery:build-id"] == item["build_id"]
            assert image_tags["bakery:mode"] == "local"
            assert image_tags["bakery:managed"] == "true"
            assert image_tags["bakery:build-date"].endswith("Z")
            assert len(image_tags["bakery:input-hash"]) == 64
            snapshot_id = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
            snapshot = client.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]
            assert tags(snapshot)["bakery:build-id"] == item["build_id"]
    web_tags = tags(
        ec2(project).describe_images(ImageIds=[result["web"]["images"]["us-east-1"]])["Images"][0]
    )
    assert web_tags["bakery:parent-recipe"] == "cis-hardened"
    assert web_tags["bakery:source-ami"] == result["cis-hardened"]["images"]["us-east-1"]
    tree = call_bakery(project, "lineage", "al2023-base").stdout
    assert "cis-hardened" in tree and "web" in tree and "worker" in tree
    statement = json.loads(call_bakery(project, "provenance", result["web"]["build_id"]).stdout)
    assert {s["name"] for s in statement["subject"]} == {
        f"ami://{region}/{ami}" for region, ami in result["web"]["images"].items()
    }
    names = {
        d.get("name") for d in statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    }
    assert "recipes/scripts/web/install-nginx.sh" in names
    assert "recipes/apps/web.yaml" in names


def test_second_bake_builds_nothing(project: Path) -> None:
    bake_json(project, "--all")
    again = bake_json(project, "--all")
    assert {item["result"] for item in again.values()} == {"up to date"}


def test_changed_script_rebuilds_that_recipe_and_its_descendants_only(project: Path) -> None:
    first = bake_json(project, "--all")
    script = project / "recipes/scripts/hardening/sshd.sh"
    script.write_text(script.read_text() + "\n# tightened\n")
    dry = call_bakery(project, "bake", "--all", "--dry-run").stdout
    assert "build      cis-hardened" in dry and "up to date al2023-base" in dry
    second = bake_json(project, "--all")
    assert {name: item["result"] for name, item in second.items()} == {
        "al2023-base": "up to date",
        "cis-hardened": "succeeded",
        "web": "succeeded",
        "worker": "succeeded",
    }
    assert second["al2023-base"]["images"] == first["al2023-base"]["images"]


def test_failing_build_is_recorded_failed_and_leaves_no_instance(project: Path) -> None:
    script = project / "recipes/scripts/worker/install-worker.sh"
    script.write_text("#!/usr/bin/env bash\nif then\n")
    done = bakery(project, "bake", "worker", "--json", check=False)
    assert done.returncode == 1
    result = {item["recipe"]: item for item in json.loads(done.stdout)}
    assert result["worker"]["result"] == "failed"
    assert result["cis-hardened"]["result"] == "succeeded"
    history = json.loads(call_bakery(project, "history", "worker", "--json").stdout)
    assert history[0]["status"] == "failed"
    reservations = ec2(project).describe_instances(
        Filters=[
            {"Name": "tag-key", "Values": ["bakery:build-id"]},
            {
                "Name": "instance-state-name",
                "Values": ["pending", "running", "stopping", "stopped"],
            },
        ]
    )["Reservations"]
    assert reservations == []
    assert "no leftovers" in call_bakery(project, "reap").stdout


def test_state_import_recreates_the_same_lineage(project: Path) -> None:
    bake_json(project, "--all")
    database = project / ".bakery/lineage.db"
    before = _lineage_rows(database)
    database.unlink()
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    report = json.loads(call_bakery(project, "state", "import", "--json").stdout)
    assert report["builds"] == 4 and report["linked"] == 3
    assert _lineage_rows(database) == before


def _lineage_rows(database: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT build_id, recipe, version, parent_build_id, input_hash FROM builds "
            "ORDER BY build_id"
        ).fetchall()
        images = connection.execute(
            "SELECT build_id, region, ami_id FROM images ORDER BY build_id, region"
        ).fetchall()
    return [*rows, *images]
