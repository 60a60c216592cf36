from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bakery.errors import BakeryError
from bakery.lineage.queries import (
    ancestry,
    descendants,
    history_rows,
    lineage_view,
    resolve_ref,
)
from bakery.lineage.records import Artifact, BuildRecord, RegionImage
from bakery.lineage.sqlite.store import SqliteStore
from tests.support.records import (
    AL2023,
    T0,
    east,
    failed,
    make_record,
    recipe_source,
    ssm_source,
    succeeded,
)


def build(recipe: str, at: float, ami: str, parent: BuildRecord | None = None) -> BuildRecord:
    """A build that took 150 s: a base from AL2023 (version 3), or a child of `parent`."""
    source = ssm_source("ami-al2023", version=3) if parent is None else recipe_source(parent)
    layer = "base" if parent is None else "app"
    started = make_record(recipe, at, parent, version="1.0.0", layer=layer, source=source)
    return succeeded(started, RegionImage("us-east-1", ami), after=150)


class Chain:
    """base -> hard -> (web, worker), plus an older failed web build, in a real store."""

    def __init__(self, store: SqliteStore) -> None:
        self.base = build("base", T0, "ami-base")
        self.hard = build("hard", T0 + 1, "ami-hard", self.base)
        self.failed_web = failed(make_record("web", T0 + 2, self.hard, version="1.0.0"))
        self.web = build("web", T0 + 3, "ami-web", self.hard)
        self.worker = build("worker", T0 + 4, "ami-worker", self.hard)
        for record in (self.base, self.hard, self.failed_web, self.web, self.worker):
            store.put(record)


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "lineage.db")


@pytest.fixture
def chain(store: SqliteStore) -> Chain:
    return Chain(store)


def test_ancestry_walks_up_nearest_first(store: SqliteStore, chain: Chain) -> None:
    assert ancestry(store, chain.web) == [chain.hard, chain.base]
    assert ancestry(store, chain.base) == []


def test_descendants_are_breadth_first(store: SqliteStore, chain: Chain) -> None:
    below = descendants(store, chain.base)
    assert below[0] == chain.hard
    assert {r.build_id for r in below[1:]} == {
        chain.web.build_id,
        chain.worker.build_id,
        chain.failed_web.build_id,
    }
    assert descendants(store, chain.web) == []


def test_resolve_ref_takes_a_build_id_an_ami_or_a_recipe(store: SqliteStore, chain: Chain) -> None:
    assert resolve_ref(store, chain.hard.build_id) == chain.hard
    assert resolve_ref(store, chain.hard.build_id.lower()) == chain.hard
    assert resolve_ref(store, "ami-worker") == chain.worker
    assert resolve_ref(store, "web") == chain.web  # newest succeeded, not the failed one


@pytest.mark.parametrize("ref", ["ami-nothing", "nosuchrecipe", "01HZZZZZZZZZZZZZZZZZZZZZZZ"])
def test_resolve_ref_names_the_ref_and_what_it_may_be(
    store: SqliteStore, chain: Chain, ref: str
) -> None:
    with pytest.raises(BakeryError, match=rf"^no build found for {ref}; give a build id"):
        resolve_ref(store, ref)


def test_lineage_view_tree_starts_at_the_external_base(store: SqliteStore, chain: Chain) -> None:
    lines = lineage_view(store, chain.hard, "tree").splitlines()
    assert lines[0] == f"ami-al2023 from ssm_parameter {AL2023} (version 3)"
    assert lines[1] == f"└── base 1.0.0 {chain.base.build_id} ami-base (us-east-1) succeeded"
    assert lines[2].startswith("    └── hard 1.0.0")
    assert len(lines) == 6
    assert any(f"{chain.failed_web.build_id} no image failed" in line for line in lines)


def test_lineage_view_of_a_leaf_shows_only_its_own_line(store: SqliteStore, chain: Chain) -> None:
    text = lineage_view(store, chain.web, "tree")
    assert chain.hard.build_id in text and chain.web.build_id in text
    assert chain.worker.build_id not in text


def test_lineage_view_mermaid_has_the_edges(store: SqliteStore, chain: Chain) -> None:
    text = lineage_view(store, chain.hard, "mermaid")
    assert text.startswith("graph TD")
    assert "  n_source_ami_al2023 --> n_" + chain.base.build_id in text
    assert f"  n_{chain.base.build_id} --> n_{chain.hard.build_id}" in text
    assert f"  n_{chain.hard.build_id} --> n_{chain.worker.build_id}" in text
    assert text.count("-->") == 5


def test_lineage_view_dot_has_the_edges(store: SqliteStore, chain: Chain) -> None:
    text = lineage_view(store, chain.hard, "dot")
    assert text.startswith("digraph bakery {") and text.endswith("}")
    assert f'"{chain.hard.build_id}" -> "{chain.web.build_id}";' in text
    assert text.count(" -> ") == 5


def test_lineage_view_json_carries_each_build(store: SqliteStore, chain: Chain) -> None:
    document = json.loads(lineage_view(store, chain.hard, "json"))
    assert document["selected"] == chain.hard.build_id
    nodes = {node["name"]: node for node in document["nodes"]}
    assert nodes["source:ami-al2023"]["parent"] is None
    assert nodes["source:ami-al2023"]["source"]["reference"] == AL2023
    web = nodes[chain.web.build_id]
    assert web["parent"] == web["parent_build_id"] == chain.hard.build_id
    assert (web["recipe"], web["version"], web["status"]) == ("web", "1.0.0", "succeeded")
    assert web["images"] == [
        {"region": "us-east-1", "ami_id": "ami-web", "snapshot_ids": [], "removed_at": None}
    ]
    assert web["source"]["kind"] == "recipe"
    assert nodes[chain.base.build_id]["parent"] == "source:ami-al2023"
    assert len(nodes) == 6


def test_history_rows_list_a_recipes_builds_newest_first(store: SqliteStore, chain: Chain) -> None:
    running = make_record("web", T0 + 9, chain.hard, version="1.0.0")
    store.put(running)
    rows = history_rows(store, "web")
    assert [row["build_id"] for row in rows] == [
        running.build_id,
        chain.web.build_id,
        chain.failed_web.build_id,
    ]
    assert rows[0]["duration_s"] is None and rows[0]["amis"] == {}
    assert rows[1] == {
        "build_id": chain.web.build_id,
        "version": "1.0.0",
        "status": "succeeded",
        "revoked": False,
        "started_at": "2024-01-01T10:00:03Z",
        "duration_s": 150.0,
        "amis": {"us-east-1": "ami-web"},
        "input_hash": chain.web.input_hash[:12],
        "parameters": {},
        "artifacts": [],
    }


def test_history_rows_and_lineage_json_carry_the_parameters_of_a_build(
    store: SqliteStore, chain: Chain
) -> None:
    parameters = (("arch", "arm64"), ("disk", "20"))
    arm = make_record("web", T0 + 9, chain.hard, version="1.0.0", parameters=parameters)
    store.put(arm)
    assert history_rows(store, "web")[0]["parameters"] == {"arch": "arm64", "disk": "20"}
    document = json.loads(lineage_view(store, arm, "json"))
    nodes = {node["name"]: node for node in document["nodes"]}
    assert nodes[arm.build_id]["parameters"] == {"arch": "arm64", "disk": "20"}
    assert nodes[chain.hard.build_id]["parameters"] == {}


def test_history_rows_and_lineage_json_carry_the_files_a_build_downloaded(
    store: SqliteStore, chain: Chain
) -> None:
    kept = (Artifact("logs/cloud-init.log", "ab" * 32, 2048), Artifact("sbom.json", "cd" * 32, 17))
    web = replace(failed(make_record("web", T0 + 9, chain.hard, version="1.0.0")), artifacts=kept)
    store.put(web)
    listed = [
        {"name": "logs/cloud-init.log", "sha256": "ab" * 32, "size": 2048},
        {"name": "sbom.json", "sha256": "cd" * 32, "size": 17},
    ]
    rows = history_rows(store, "web")
    assert [row["artifacts"] for row in rows] == [listed, [], []]
    document = json.loads(lineage_view(store, web, "json"))
    nodes = {node["name"]: node for node in document["nodes"]}
    assert nodes[web.build_id]["artifacts"] == listed
    assert nodes[chain.hard.build_id]["artifacts"] == []


def test_a_build_dated_in_the_future_is_not_taken_as_the_newest(store: SqliteStore) -> None:
    now = datetime.now(UTC).timestamp()
    good = succeeded(make_record("web", now - 3600), east("ami-good"))
    ahead = succeeded(make_record("web", now + 86400), east("ami-ahead"))  # a clock a day ahead
    for record in (good, ahead):
        store.put(record)
    notes: list[str] = []
    assert resolve_ref(store, "web", notes.append).build_id == good.build_id
    assert notes == [
        f"build {ahead.build_id} of web is dated {ahead.started_at}, in the future (its "
        "runner's clock was ahead): it is not taken as the newest; name its build id to use it"
    ]
    assert resolve_ref(store, ahead.build_id).build_id == ahead.build_id  # named, it is used
