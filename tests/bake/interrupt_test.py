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
from tests.support.processes import running
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


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_cancels_running_builds_waits_for_cleanup_and_exits_130(
    project: Path, sig: signal.Signals
) -> None:
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
    process.send_signal(sig)  # SIGTERM: CI cancellation, docker stop, kill
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
        assert store.lease("one") is None and store.lease("two") is None
    assert f"{sig.name}: asking running builds to clean up" in err


def wait_for_events(
    log: Path, event: str, count: int, within: float = 60
) -> list[dict[str, object]]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = (
            [
                e
                for e in (json.loads(line) for line in log.read_text().splitlines())
                if e["event"] == event
            ]
            if log.exists()
            else []
        )
        if len(found) >= count:
            return found
        time.sleep(0.1)
    pytest.fail(f"{count} {event} events did not come: {log.read_text() if log.exists() else ''}")


def test_sigkill_of_bakery_ends_packer_and_the_rerun_starts_at_once(project: Path) -> None:
    log = project / "fake.jsonl"
    plan = project / "plan.json"
    plan.write_text(json.dumps({"*": {"result": "hang"}}))
    env = {"BAKERY_FAKE_PACKER_PLAN": str(plan), "BAKERY_FAKE_PACKER_LOG": str(log)}
    process = start_bakery(project, "bake", "--all", **env)
    started = wait_for_events(log, "start", 2)
    process.kill()  # SIGKILL: bakery runs nothing more
    process.communicate(timeout=30)
    # each guard saw bakery go and asked its Packer to clean up, as on Ctrl-C
    assert sorted(e["recipe"] for e in wait_for_events(log, "cancelled", 2)) == ["one", "two"]
    for event in started:
        pid = event["pid"]
        assert isinstance(pid, int)
        deadline = time.monotonic() + 60
        while running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not running(pid)
    with SqliteStore(project / ".bakery/lineage.db") as store:
        assert {r.status for r in store.builds()} == {Status.RUNNING}
        killed = {r.recipe: r.log_path for r in store.builds()}
    for path in killed.values():  # the logs kept what Packer wrote before the kill
        assert path and "cancelled" in (project / path).read_text().lower()

    # The rerun: the fake makes no image the emulator knows, so a build that fails at once
    # shows the rest as well (each started once, at once).
    plan.write_text(json.dumps({"*": {"result": "fail"}}))
    rerun = start_bakery(project, "bake", "--all", **env)
    _, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 1, err
    assert "waiting" not in err  # the dead runner's leases were taken over, not waited for
    assert err.count("at once: its process on this host has ended") == 2
    assert err.count("left running by a process that ended; recorded interrupted") == 2
    with SqliteStore(project / ".bakery/lineage.db") as store:
        statuses = sorted((r.recipe, r.status.value) for r in store.builds())
        interrupted = store.builds(status=Status.INTERRUPTED)
        assert store.lease("one") is None and store.lease("two") is None
    assert statuses == [
        ("one", "failed"),
        ("one", "interrupted"),
        ("two", "failed"),
        ("two", "interrupted"),
    ]
    assert all(r.error and r.error.startswith("interrupted: pid") for r in interrupted)
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert sorted(e["recipe"] for e in events if e["event"] == "start") == [
        "one",
        "one",
        "two",
        "two",
    ]
