"""Ctrl-C on the bakery process: every running build is asked to clean up and recorded cancelled.

Packer is the fake (tests/support/fake_packer) so that builds hang until interrupted; AWS is the
local emulator, so the command runs exactly as a user starts it.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bakery.lineage.records import Status
from bakery.lineage.sqlite.store import SqliteStore
from bakery.local import launcher
from tests.support.project import FAKE_PACKER, ProjectFactory, start_bakery

AL2023 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"


@pytest.fixture
def project(make_project: ProjectFactory) -> Iterator[Path]:
    recipes = {
        f"recipes/{name}.yaml": f"name: {name}\nlayer: base\nversion: 1.0.0\n"
        f"source: {{ssm_parameter: {AL2023}}}\n"
        for name in ("one", "two")
    }
    recipes["recipes/kid.yaml"] = "name: kid\nlayer: app\nversion: 1.0.0\nsource: {recipe: one}\n"
    root = make_project(
        recipes, f"packer: {{binary: {FAKE_PACKER}, dialect: '1.6'}}\nbake: {{cancel_grace: 5s}}\n"
    )
    launcher.start(root)
    try:
        yield root
    finally:
        launcher.stop(root)


def test_ctrl_c_cancels_running_builds_waits_for_cleanup_and_exits_130(project: Path) -> None:
    log = project / "fake.jsonl"
    (project / "plan.json").write_text(json.dumps({"*": {"result": "hang"}}))
    process = start_bakery(
        project,
        "bake",
        "--all",
        "--json",
        BAKERY_FAKE_PACKER_PLAN=str(project / "plan.json"),
        BAKERY_FAKE_PACKER_LOG=str(log),
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        started = log.read_text().count('"start"') if log.exists() else 0
        if started == 2:
            break
        time.sleep(0.1)
    assert started == 2, "both independent builds should be running"
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    results = {item["recipe"]: item["result"] for item in json.loads(out)}
    assert results == {"one": "cancelled", "two": "cancelled", "kid": "cancelled"}
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert sorted(e["recipe"] for e in events if e["event"] == "cancelled") == ["one", "two"]
    with SqliteStore(project / ".bakery/lineage.db") as store:
        assert {r.recipe: r.status for r in store.builds()} == {
            "one": Status.CANCELLED,
            "two": Status.CANCELLED,
        }
