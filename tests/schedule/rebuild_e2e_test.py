"""Scheduled rebuilds on the emulator with the real Packer: a base moves, exactly its chain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.emulator import move_base, use_demo_base
from tests.support.project import call_bakery, run_bakery, start_bakery

pytestmark = pytest.mark.usefixtures("packer_binary")


@pytest.fixture(params=["sqlite", "dynamodb"])
def project(
    samples_on_emulator: Path, request: pytest.FixtureRequest, webhook: tuple[str, list[Any]]
) -> Path:
    use_demo_base(samples_on_emulator)
    settings = samples_on_emulator / "bakery.yaml"
    settings.write_text(settings.read_text() + f"notify: {{webhook: '{webhook[0]}'}}\n")
    if request.param == "dynamodb":  # one table on the emulator, shared by both runners
        settings = samples_on_emulator / "bakery.yaml"
        settings.write_text(
            settings.read_text().replace(
                "state: sqlite:.bakery/lineage.db",
                "state: dynamodb://bakery-lineage?region=us-east-1",
            )
        )
        run_bakery(samples_on_emulator, "state", "init")
    return samples_on_emulator


def plan(root: Path) -> tuple[int, dict[str, object]]:
    done = call_bakery(root, "plan", "--json", check=False)
    assert done.returncode in (0, 10), done.stderr
    return done.returncode, json.loads(done.stdout)


def test_moved_base_rebuilds_exactly_its_chain_once_even_with_two_runners(
    project: Path, webhook: tuple[str, list[Any]]
) -> None:
    run_bakery(project, "bake", "--all")
    assert plan(project)[0] == 0
    newer = move_base(project)
    code, report = plan(project)
    assert code == 10
    entries = {e["recipe"]: e for e in report["entries"]}  # type: ignore[union-attr]
    assert any(
        "base moved" in reason and newer in reason for reason in entries["al2023-base"]["reasons"]
    )
    assert report["order"] == ["al2023-base", "cis-hardened", "web", "worker"]
    runs = [start_bakery(project, "rebuild", "--stale", "--json") for _ in range(2)]
    for run in runs:
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
        assert json.loads(out)["result"] in ("succeeded", "nothing to do")
    for name in ("al2023-base", "cis-hardened", "web", "worker"):
        history = json.loads(call_bakery(project, "history", name, "--json").stdout)
        assert [row["status"] for row in history] == ["succeeded", "succeeded"], name
    assert plan(project)[0] == 0
    again = json.loads(run_bakery(project, "rebuild", "--stale", "--json").stdout)
    assert again["result"] == "nothing to do"
    payloads = webhook[1]
    assert len(payloads) == 3  # every run notifies, whatever it did
    built = [b for p in payloads[:2] for b in p.get("builds", []) if b["result"] == "succeeded"]
    assert sorted(b["recipe"] for b in built) == ["al2023-base", "cis-hardened", "web", "worker"]
    first = next(p for p in payloads[:2] if p.get("builds"))
    assert first["command"] == "rebuild" and first["exit_code"] == 0
    assert {s["recipe"] for s in first["stale"]} == {"al2023-base", "cis-hardened", "web", "worker"}
    assert payloads[2]["result"] == "nothing to do" and payloads[2]["run_id"]
