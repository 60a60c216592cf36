"""The lifecycle walk-through of docs/lifecycle.md, through the CLI, real Packer, the emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.project import call_bakery, run_bakery

pytestmark = pytest.mark.usefixtures("packer_binary")


@pytest.fixture
def project(samples_on_emulator: Path) -> Path:
    return samples_on_emulator


def run_json(root: Path, *args: str) -> Any:
    """Bakes run as a user runs them; the quick commands around them run in this process."""
    run = run_bakery if args[0] == "bake" else call_bakery
    return json.loads(run(root, *args, "--json").stdout)


def test_bake_copy_test_promote_revoke_prune(project: Path) -> None:
    first = {o["recipe"]: o for o in run_json(project, "bake", "--all")}
    web = first["web"]["build_id"]
    [copied] = run_json(project, "copy", "web", "--to", "eu-west-1")
    assert copied["copied"] and copied["region"] == "eu-west-1"
    refused = call_bakery(project, "promote", "web", "--channel", "prod", check=False)
    assert refused.returncode == 1
    assert "requires" in refused.stderr and "Traceback" not in refused.stderr
    assert run_json(project, "test", "web")["passed"] is True
    run_json(project, "promote", "web", "--channel", "staging")
    run_json(project, "promote", "web", "--channel", "prod")
    script = project / "recipes/scripts/hardening/sysctl.sh"
    script.write_text(script.read_text() + "# stricter\n")
    second = {o["recipe"]: o for o in run_json(project, "bake", "--all")}
    assert second["al2023-base"]["result"] == "up to date"
    assert second["cis-hardened"]["result"] == "succeeded"
    run_json(project, "test", "web")
    run_json(project, "promote", "web", "--channel", "staging")
    run_json(project, "promote", "web", "--channel", "prod")
    revoked = run_json(project, "revoke", "cis-hardened", "--reason", "CVE", "--cascade")
    assert set(revoked["revoked"]) == {
        second[n]["build_id"] for n in ("cis-hardened", "web", "worker")
    }
    assert {(p["channel"], p["build_id"]) for p in revoked["moved"]} == {
        ("staging", web),
        ("prod", web),
    }
    channels = {row["channel"]: row for row in run_json(project, "channels", "web")}
    assert channels["prod"]["build_id"] == web and not channels["prod"]["drift"]
    lineage = run_json(project, "lineage", "al2023-base")
    statuses = {n["build_id"]: n.get("revoked") for n in lineage["nodes"] if "build_id" in n}
    assert statuses[second["web"]["build_id"]] is True and statuses[web] is False
    web_node = next(
        n for n in run_json(project, "lineage", web)["nodes"] if n.get("build_id") == web
    )
    assert {image["region"] for image in web_node["images"]} == {
        "us-east-1",
        "us-west-2",
        "eu-west-1",
    }
    plan = run_json(project, "prune", "--keep", "1")
    doomed = {d["ami_id"] for d in plan["decisions"] if d["delete"]}
    revoked_amis = {
        image
        for name in ("cis-hardened", "web", "worker")
        for image in second[name]["images"].values()
    }
    assert doomed == revoked_amis
    assert web_node["images"][0]["ami_id"] not in doomed  # the channels point to it
    run_json(project, "prune", "--keep", "1", "--apply")
    assert not any(d["delete"] for d in run_json(project, "prune", "--keep", "1")["decisions"])
    pruned = next(
        n
        for n in run_json(project, "lineage", "al2023-base")["nodes"]
        if n.get("build_id") == second["web"]["build_id"]
    )
    assert all(image["removed_at"] for image in pruned["images"])
