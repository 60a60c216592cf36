"""`bakery rebuild --stale --promote CHANNEL` on the emulator with the real Packer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.emulator import emulator_client, move_base, use_demo_base
from tests.support.project import run_bakery

pytestmark = pytest.mark.usefixtures("packer_binary")
CHAIN = ["al2023-base", "cis-hardened", "web", "worker"]


def channel(root: Path, recipe: str, name: str) -> str | None:
    ssm = emulator_client(root, "ssm")
    try:
        return str(ssm.get_parameter(Name=f"/bakery/{recipe}/{name}")["Parameter"]["Value"])
    except ssm.exceptions.ParameterNotFound:
        return None


@pytest.fixture
def project(samples_on_emulator: Path) -> Path:
    use_demo_base(samples_on_emulator)
    run_bakery(samples_on_emulator, "bake", "--all")
    move_base(samples_on_emulator)
    return samples_on_emulator


def test_rebuild_promote_moves_the_channel_to_every_new_image_whose_gates_pass(
    project: Path,
) -> None:
    report = json.loads(
        run_bakery(project, "rebuild", "--stale", "--promote", "staging", "--json").stdout
    )
    assert report["result"] == "succeeded" and report["exit_code"] == 0
    builds = {b["recipe"]: b for b in report["builds"]}
    assert sorted(builds) == CHAIN
    assert {b["result"] for b in builds.values()} == {"succeeded"}
    assert report["not_promoted"] == []
    assert sorted((p["recipe"], p["channel"], p["build_id"]) for p in report["promoted"]) == [
        (name, "staging", builds[name]["build_id"]) for name in CHAIN
    ]
    for name in CHAIN:
        assert channel(project, name, "staging") == builds[name]["images"]["us-east-1"], name
    rows = json.loads(run_bakery(project, "channels", "web", "--json").stdout)
    staging = next(row for row in rows if row["channel"] == "staging")
    assert staging["build_id"] == builds["web"]["build_id"] and staging["drift"] is False


def test_rebuild_promote_reports_what_the_gates_refuse_and_leaves_the_channel(
    project: Path,
) -> None:
    done = run_bakery(project, "rebuild", "--stale", "--promote", "prod", "--json")
    report = json.loads(done.stdout)
    assert report["result"] == "succeeded" and report["promoted"] == []
    builds = {b["recipe"]: b for b in report["builds"]}
    refused = {entry["recipe"]: entry for entry in report["not_promoted"]}
    assert sorted(refused) == CHAIN
    web = builds["web"]["build_id"]
    assert refused["web"]["channel"] == "prod"
    assert refused["web"]["reason"].startswith(
        f"promotion to prod refused: channel prod requires web 2.3.0 ({web}) to be promoted "
        f"to staging first; run: bakery promote {web} --channel staging"
    )
    assert "web: not promoted to prod: promotion to prod refused" in done.stderr
    assert all(channel(project, name, "prod") is None for name in CHAIN)
