"""Two bakes started at the same moment build each recipe once (real Packer, the emulator)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bakery.lineage.records import Status
from bakery.lineage.sqlite.store import SqliteStore
from tests.support.project import start_bakery

pytestmark = pytest.mark.usefixtures("packer_binary")


def test_two_concurrent_bakes_build_each_recipe_once(samples_on_emulator: Path) -> None:
    root = samples_on_emulator
    runs = [start_bakery(root, "bake", "--all", "--json") for _ in range(2)]
    results = []
    for run in runs:
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
        results.append({item["recipe"]: item for item in json.loads(out)})
    for name in ("al2023-base", "cis-hardened", "web", "worker"):
        outcomes = sorted(result[name]["result"] for result in results)
        assert outcomes == ["succeeded", "up to date"], (name, outcomes)
        assert results[0][name]["images"] == results[1][name]["images"]
    with SqliteStore(root / ".bakery/lineage.db") as store:
        built = [r.recipe for r in store.builds(status=Status.SUCCEEDED)]
    assert sorted(built) == ["al2023-base", "cis-hardened", "web", "worker"]
