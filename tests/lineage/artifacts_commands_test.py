"""`bakery history`, `lineage` and `provenance` show the files a build downloaded, as a user runs
them against the project's real SQLite store."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from bakery.cli import main
from bakery.lineage.records import Artifact, BuildRecord
from bakery.lineage.sqlite.store import SqliteStore
from tests.support.project import ProjectFactory
from tests.support.records import T0, east, failed, make_record, succeeded

SBOM = Artifact("sbom.json", "ab" * 32, 17)
RELEASE = Artifact("os-release", "cd" * 32, 8)
# A name from the instance holding a terminal escape: shown escaped, kept as it is in JSON.
HOSTILE = Artifact("logs/\x1b]0;owned\x07.log", "ef" * 32, 3)


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root

    def record(self, *records: BuildRecord) -> None:
        with SqliteStore(self.root / ".bakery" / "lineage.db") as store:
            for record in records:
                store.put(record)

    def bakery(self, capsys: pytest.CaptureFixture[str], *args: str) -> str:
        assert main(["-C", str(self.root), *args]) == 0
        return capsys.readouterr().out


@pytest.fixture
def project(make_project: ProjectFactory) -> Project:
    return Project(make_project({}))


def test_history_counts_and_names_the_files_each_build_downloaded(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    many = tuple(Artifact(f"rpm/{i}.txt", "00" * 32, i) for i in range(5))
    first = replace(failed(make_record(at=T0)), artifacts=(HOSTILE,))
    second = replace(succeeded(make_record(at=T0 + 1), east("ami-1")), artifacts=(RELEASE, SBOM))
    third = replace(succeeded(make_record(at=T0 + 2), east("ami-2")), artifacts=many)
    bare = succeeded(make_record(at=T0 + 3), east("ami-3"))
    project.record(first, second, third, bare)
    lines = project.bakery(capsys, "history", "web").splitlines()
    assert lines[0].split() == [
        "BUILD", "VERSION", "STATUS", "STARTED", "TIME", "IMAGES", "DOWNLOADED",
    ]  # fmt: skip
    rows = {line.split()[0]: line for line in lines[1:]}
    assert rows[bare.build_id].endswith("us-east-1:ami-3  -")
    assert rows[third.build_id].endswith("5 (rpm/0.txt, rpm/1.txt, rpm/2.txt, ...)")
    assert rows[second.build_id].endswith("2 (os-release, sbom.json)")
    assert rows[first.build_id].endswith(r"1 (logs/\x1b]0;owned\x07.log)")
    assert "\x1b" not in "\n".join(lines)


def test_history_json_lists_each_file_with_its_sha256_and_size(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    kept = replace(succeeded(make_record(), east("ami-1")), artifacts=(HOSTILE, SBOM))
    project.record(kept)
    output = project.bakery(capsys, "history", "web", "--json")
    assert "\x1b" not in output  # JSON escapes it
    [row] = json.loads(output)
    assert row["artifacts"] == [
        {"name": HOSTILE.name, "sha256": "ef" * 32, "size": 3},
        {"name": "sbom.json", "sha256": "ab" * 32, "size": 17},
    ]


def test_lineage_json_lists_the_files_of_each_build(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    kept = replace(succeeded(make_record(), east("ami-1")), artifacts=(SBOM,))
    project.record(kept)
    document = json.loads(project.bakery(capsys, "lineage", kept.build_id, "--json"))
    [node] = [node for node in document["nodes"] if node["name"] == kept.build_id]
    assert node["artifacts"] == [{"name": "sbom.json", "sha256": "ab" * 32, "size": 17}]


def test_provenance_names_the_files_a_build_downloaded_as_byproducts(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    kept = replace(succeeded(make_record(), east("ami-1")), artifacts=(RELEASE, SBOM))
    project.record(kept)
    folder = project.root / ".bakery" / "builds" / kept.build_id
    folder.mkdir(parents=True)
    (folder / "inputs.json").write_text(json.dumps({"files": {"recipes/web.yaml": "11" * 32}}))
    statement = json.loads(project.bakery(capsys, "provenance", kept.build_id))
    assert statement["predicate"]["runDetails"]["byproducts"] == [
        {"name": "os-release", "digest": {"sha256": "cd" * 32}, "annotations": {"size": 8}},
        {"name": "sbom.json", "digest": {"sha256": "ab" * 32}, "annotations": {"size": 17}},
    ]
