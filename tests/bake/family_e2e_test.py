"""The sample families of recipes/examples, baked with the real Packer against the emulator:
separate, individually tracked images with upstream-style names, and `--var` changing exactly
what the input hash says."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from bakery.local import launcher
from tests.support.project import REPO, call_bakery
from tests.support.project import run_bakery as bakery

pytestmark = pytest.mark.usefixtures("packer_binary")
EXAMPLES = REPO / "recipes" / "examples"


def images(root: Path) -> dict[str, dict[str, Any]]:
    """Every image bakery made, by recipe (instance) name, with its tags."""
    emulator = launcher.status(root)
    assert emulator is not None
    ec2 = boto3.client(
        "ec2",
        region_name="us-east-1",
        endpoint_url=emulator.endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    found = {}
    for image in ec2.describe_images(Owners=["self"])["Images"]:
        tags = {tag["Key"]: tag["Value"] for tag in image.get("Tags", [])}
        if "bakery:recipe" in tags:
            found[tags["bakery:recipe"]] = {"name": image["Name"], "tags": tags}
    return found


def stale(root: Path, *args: str) -> list[str]:
    done = call_bakery(root, "plan", "--json", *args, check=False)
    assert done.returncode in (0, 10), done.stderr
    return sorted(entry["recipe"] for entry in json.loads(done.stdout)["entries"]
                  if entry["status"] == "stale")  # fmt: skip


def test_the_container_host_family_bakes_each_instance_on_the_base_of_its_arch(
    example: Callable[[str], Path],
) -> None:
    root = example("container-host")
    done = bakery(root, "bake", "--all", "--json")
    result = {item["recipe"]: item["result"] for item in json.loads(done.stdout)}
    hosts = [f"container-host-{arch}-{accel}" for arch in ("x86_64", "arm64")
             for accel in ("standard", "nvidia", "neuron")]  # fmt: skip
    hosts.remove("container-host-arm64-neuron")  # excluded by the matrix
    assert result == dict.fromkeys(
        ["container-base-x86_64", "container-base-arm64", *hosts], "succeeded"
    )
    made = images(root)
    assert set(made) == set(result)
    for host in hosts:
        arch = "arm64" if "arm64" in host else "x86_64"
        tags = made[host]["tags"]
        assert tags["bakery:parent-recipe"] == f"container-base-{arch}"
        assert tags["bakery:family"] == "container-host"
        assert tags["arch"] == arch
        assert tags["base-ami"] == tags["bakery:source-ami"]
        accel = tags["accel"]
        assert re.fullmatch(rf"al2023-ecs-{accel}-{arch}-1\.0\.0-\d{{14}}", made[host]["name"])
        assert tags["bakery:parameters"].startswith(f"arch={arch},accel={accel},")
    # One instance's history is its own.
    history = json.loads(
        call_bakery(root, "history", "container-host-arm64-nvidia", "--json").stdout
    )
    assert len(history) == 1
    # Nothing to do on a rerun; a new agent version rebuilds exactly the hosts, not the bases.
    assert stale(root) == []
    assert stale(root, "--var", "ecs_agent_version=1.94.0") == sorted(hosts)
    # The hosts depend on the bases only: they build together, in one wave.
    done = call_bakery(root, "plan", "--json", "--var", "ecs_agent_version=1.94.0", check=False)
    assert json.loads(done.stdout)["waves"] == [sorted(hosts)]
    assert stale(root, "container-host[accel=nvidia]", "--var", "ecs_agent_version=1.94.0") == [
        "container-host-arm64-nvidia",
        "container-host-x86_64-nvidia",
    ]
    # Baking one instance by selector builds that one only.
    done = bakery(root, "bake", "container-host[arch=arm64,accel=standard]", "--force", "--json")
    built = [item["recipe"] for item in json.loads(done.stdout) if item["result"] == "succeeded"]
    assert built == ["container-host-arm64-standard"]


def test_the_k8s_node_family_is_named_as_upstream_and_follows_its_var_file(
    example: Callable[[str], Path],
) -> None:
    root = example("k8s-node")
    bakery(root, "bake", "--all")
    made = images(root)
    assert sorted(made) == ["eks-node-arm64", "eks-node-x86_64"]
    for arch in ("x86_64", "arm64"):
        image = made[f"eks-node-{arch}"]
        assert re.fullmatch(
            rf"amazon-eks-node-al2023-{arch}-standard-1\.33-v\d{{14}}", image["name"]
        )
        assert image["tags"]["kubernetes-version"] == "1.33"
        assert image["tags"]["containerd-version"] == "1.7.27"
    assert stale(root) == []
    assert stale(root, "--var", "kubernetes_version=1.34") == ["eks-node-arm64", "eks-node-x86_64"]
    newer = root / "newer.yaml"
    newer.write_text("containerd_version: '2.0.5'\n")
    assert stale(root, "--var-file", str(newer)) == ["eks-node-arm64", "eks-node-x86_64"]
    assert stale(root, "eks-node[arch=arm64]", "--var-file", str(newer)) == ["eks-node-arm64"]
    # A value that does not fit is an error at the place it is written, nothing is built.
    newer.write_text("containerd_version: 'latest'\n")
    done = call_bakery(root, "bake", "--all", "--var-file", str(newer), check=False)
    assert done.returncode == 1
    assert "newer.yaml:1:21: E6004 containerd_version: containerd_version must match" in done.stderr
