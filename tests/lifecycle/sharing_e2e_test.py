"""Sharing at bake time (distribute.accounts) and revoking, through real Packer and the emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bakery.lineage.sqlite.store import SqliteStore
from bakery.local import launcher
from tests.support.project import call_bakery, run_bakery
from tests.support.stores import read_only_connections

pytestmark = pytest.mark.usefixtures("packer_binary")


def share_web_with(project: Path, accounts: str) -> None:
    web = project / "recipes/apps/web.yaml"
    text = web.read_text().replace(
        "  volume_size: 16\n", "  volume_size: 16\n  kms_key_id: alias/images\n"
    )
    web.write_text(
        text.replace(
            "  regions: [us-west-2]\n", f"  regions: [us-west-2]\n  accounts: {accounts}\n"
        )
    )


def ec2(project: Path, region: str) -> Any:
    import boto3

    emulator = launcher.status(project)
    assert emulator is not None
    return boto3.client("ec2", region_name=region, endpoint_url=emulator.endpoint_url)


def launch_permissions(project: Path, region: str, ami: str) -> list[dict[str, str]]:
    found = ec2(project, region).describe_image_attribute(ImageId=ami, Attribute="launchPermission")
    return list(found["LaunchPermissions"])


def test_an_account_outside_the_allowlist_stops_validate_and_bake(
    samples_on_emulator: Path,
) -> None:
    share_web_with(samples_on_emulator, '["999988887777"]')
    for args in (("validate",), ("bake", "web")):
        done = call_bakery(samples_on_emulator, *args, check=False)
        assert done.returncode == 1
        assert (
            "recipes/apps/web.yaml:22:14: E2015 distribute.accounts[0]: account 999988887777 is "
            "not in share_allowlist of bakery.yaml; add it there to share with it, or drop it here"
        ) in done.stderr.splitlines()
    store = samples_on_emulator / ".bakery/lineage.db"
    if store.exists():
        with SqliteStore(store) as opened:
            assert opened.builds() == []


def test_a_bake_time_share_is_recorded_and_revoke_takes_it_back(samples_on_emulator: Path) -> None:
    project = samples_on_emulator
    share_web_with(project, '["111122223333"]')
    outcomes = {
        o["recipe"]: o for o in json.loads(run_bakery(project, "bake", "web", "--json").stdout)
    }
    web = outcomes["web"]
    assert web["result"] == "succeeded"
    for region, ami in web["images"].items():
        assert launch_permissions(project, region, ami) == [{"UserId": "111122223333"}]
    with SqliteStore(project / ".bakery/lineage.db") as store:
        assert [(s.account, s.active) for s in store.shares(web["build_id"])] == [
            ("111122223333", True)
        ]

    revoked = json.loads(call_bakery(project, "revoke", "web", "--reason", "CVE", "--json").stdout)
    assert revoked["unshared"] == {web["build_id"]: ["111122223333"]}
    for region, ami in web["images"].items():
        assert launch_permissions(project, region, ami) == []
    with SqliteStore(project / ".bakery/lineage.db") as store:
        [share] = store.shares(web["build_id"])
    assert share.removed_at is not None


def test_bake_with_a_read_only_store_ends_with_exit_1_naming_the_store(
    samples_on_emulator: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = samples_on_emulator / ".bakery/lineage.db"
    SqliteStore(path).close()
    read_only_connections(monkeypatch)
    done = call_bakery(samples_on_emulator, "bake", "--all", check=False)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        f"bakery: error: the lineage store {path} is read-only (attempt to write a readonly "
        "database); make the file and its folder writable for this user, or point state in "
        "bakery.yaml at a writable store"
    )
