from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from bakery.errors import BakeryError
from bakery.lineage.provenance import provenance_statement
from bakery.lineage.records import Artifact, BuildRecord, RegionImage, Status
from tests.support.records import (
    AL2023,
    GIT_COMMIT,
    TEMPLATE_SHA256,
    make_record,
    ssm_source,
    succeeded,
)

PARAMETER = AL2023
RECORD = succeeded(
    make_record(
        "base",
        version="1.2.0",
        layer="base",
        source=ssm_source("ami-src", PARAMETER, version=42),
        packer_version="1.11.2",
    ),
    RegionImage("us-east-1", "ami-111"),
    RegionImage("eu-west-1", "ami-222"),
    after=240,
)
FILES = {"scripts/setup.sh": "11" * 32, "recipes/base.yaml": "22" * 32}
# JSON Schemas written from the specifications (no package ships them); each says which version.
SCHEMAS = Path(__file__).parents[1] / "fixtures" / "provenance"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_statement_is_in_toto_v1_with_one_subject_per_region_image() -> None:
    statement = provenance_statement(RECORD, FILES, "0.1.0")
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    assert statement["subject"] == [
        {"name": "ami://us-east-1/ami-111", "digest": {"sha256": sha256("us-east-1:ami-111")}},
        {"name": "ami://eu-west-1/ami-222", "digest": {"sha256": sha256("eu-west-1:ami-222")}},
    ]
    json.dumps(statement)  # plain JSON data throughout


def test_build_definition_names_parameters_and_every_dependency() -> None:
    definition = provenance_statement(RECORD, FILES, "0.1.0", {"argv": ["bake", "base"]})[
        "predicate"
    ]["buildDefinition"]
    assert definition["buildType"] == "https://bakery.dev/packer-amazon-ebs/v1"
    assert definition["externalParameters"] == {
        "recipe": "base",
        "version": "1.2.0",
        "layer": "base",
        "source": {"kind": "ssm_parameter", "reference": PARAMETER},
        "invocation": {"argv": ["bake", "base"]},
    }
    assert definition["internalParameters"] == {
        "input_hash": RECORD.input_hash,
        "template_sha256": TEMPLATE_SHA256,
        "region": "us-east-1",
    }
    source, first, second, commit = definition["resolvedDependencies"]
    assert source["uri"] == "ami://us-east-1/ami-src"
    assert source["annotations"]["ssmParameter"] == PARAMETER
    assert source["annotations"]["ssmVersion"] == 42
    assert first == {
        "uri": f"git+file:recipes/base.yaml@{GIT_COMMIT}",
        "name": "recipes/base.yaml",
        "digest": {"sha256": "22" * 32},
    }
    assert second["name"] == "scripts/setup.sh"
    assert commit["uri"] == f"git:{GIT_COMMIT}"
    assert commit["digest"] == {"gitCommit": GIT_COMMIT}


def test_the_parameters_of_a_build_are_external_parameters() -> None:
    record = replace(RECORD, parameters=(("arch", "arm64"), ("k8s_version", "1.33")))
    external = provenance_statement(record, FILES, "0.1.0")["predicate"]["buildDefinition"][
        "externalParameters"
    ]
    assert external["parameters"] == {"arch": "arm64", "k8s_version": "1.33"}
    assert problems(provenance_statement(record, FILES, "0.1.0")) == []


def test_a_build_without_parameters_names_none() -> None:
    statement = provenance_statement(RECORD, FILES, "0.1.0")
    assert "parameters" not in statement["predicate"]["buildDefinition"]["externalParameters"]


DOWNLOADED = (
    Artifact("logs/cloud-init.log", "ab" * 32, 2048),
    Artifact("sbom.json", "cd" * 32, 17),
)


def test_the_files_a_build_downloaded_are_byproducts_with_their_sha256() -> None:
    statement = provenance_statement(replace(RECORD, artifacts=DOWNLOADED), FILES, "0.1.0")
    assert statement["predicate"]["runDetails"]["byproducts"] == [
        {
            "name": "logs/cloud-init.log",
            "digest": {"sha256": "ab" * 32},
            "annotations": {"size": 2048},
        },
        {"name": "sbom.json", "digest": {"sha256": "cd" * 32}, "annotations": {"size": 17}},
    ]
    assert problems(statement) == []
    assert statement["subject"] == provenance_statement(RECORD, FILES, "0.1.0")["subject"]


def test_a_build_that_downloaded_nothing_has_no_byproducts() -> None:
    assert (
        "byproducts" not in provenance_statement(RECORD, FILES, "0.1.0")["predicate"]["runDetails"]
    )


def test_files_of_a_dirty_tree_are_named_by_path_alone() -> None:
    dirty = replace(RECORD, git_dirty=True)
    dependencies = provenance_statement(dirty, FILES, "0.1.0")["predicate"]["buildDefinition"][
        "resolvedDependencies"
    ]
    # No uri: a bare path is not the URI a ResourceDescriptor's uri must be.
    assert dependencies[1] == {"name": "recipes/base.yaml", "digest": {"sha256": "22" * 32}}
    assert dependencies[-1]["annotations"] == {"dirty": True}


def test_without_git_there_is_no_commit_dependency() -> None:
    bare = replace(RECORD, git_commit=None, packer_version=None, ended_at=None)
    predicate = provenance_statement(bare, {}, "0.1.0")["predicate"]
    assert [d["name"] for d in predicate["buildDefinition"]["resolvedDependencies"]] == [
        "source-ami"
    ]
    assert predicate["runDetails"]["builder"]["version"] == {"bakery": "0.1.0"}
    assert "finishedOn" not in predicate["runDetails"]["metadata"]


def test_run_details_name_the_builder_and_the_build() -> None:
    run = provenance_statement(RECORD, FILES, "0.1.0")["predicate"]["runDetails"]
    assert run["builder"] == {
        "id": "https://bakery.dev/builder",
        "version": {"bakery": "0.1.0", "packer": "1.11.2"},
    }
    assert run["metadata"] == {
        "invocationId": RECORD.build_id,
        "startedOn": "2024-01-01T10:00:00Z",
        "finishedOn": "2024-01-01T10:04:00Z",
    }


def test_times_are_written_in_utc_whatever_offset_the_record_has() -> None:
    offset = replace(
        RECORD, started_at="2024-01-01T12:00:00+02:00", ended_at="2024-01-01T10:04:00+00:00"
    )
    metadata = provenance_statement(offset, FILES, "0.1.0")["predicate"]["runDetails"]["metadata"]
    assert (metadata["startedOn"], metadata["finishedOn"]) == (
        "2024-01-01T10:00:00Z",
        "2024-01-01T10:04:00Z",
    )


def test_a_build_without_images_has_no_provenance() -> None:
    failed = replace(RECORD, status=Status.FAILED, images=())
    with pytest.raises(BakeryError, match="has no image"):
        provenance_statement(failed, FILES, "0.1.0")


# The documents checked against the schemas of the in-toto Statement and SLSA provenance.


def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / name).read_text())
    return loaded


STATEMENT = schema("in-toto-statement-v1.schema.json")
SLSA = schema("slsa-provenance-v1.schema.json")
REGISTRY: Registry[Any] = Registry().with_resources(
    (document["$id"], Resource.from_contents(document)) for document in (STATEMENT, SLSA)
)


def validator(document: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(
        document, registry=REGISTRY, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def problems(statement: dict[str, Any]) -> list[str]:
    """Every message either schema gives about `statement`, sub-schemas' included."""
    found: list[str] = []
    for document in (STATEMENT, SLSA):
        pending = list(validator(document).iter_errors(statement))
        while pending:
            error = pending.pop()
            found.append(error.message)
            pending.extend(error.context or ())
    return found


def minimal() -> dict[str, Any]:
    """A statement with only what the two specifications require."""
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"digest": {"sha256": sha256("artifact")}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": "https://example.com/build/v1",
                "externalParameters": {},
            },
            "runDetails": {"builder": {"id": "https://example.com/builder"}},
        },
    }


def test_the_schemas_are_valid_json_schemas_and_ask_only_what_the_specs_require() -> None:
    for document in (STATEMENT, SLSA):
        Draft202012Validator.check_schema(document)
    assert problems(minimal()) == []


@pytest.mark.parametrize(
    "record",
    [
        RECORD,
        replace(RECORD, git_dirty=True),
        replace(RECORD, git_commit=None, packer_version=None, template_sha256=None),
        make_record(),  # running: no end yet
        replace(RECORD, parameters=(("arch", "arm64"), ("disk", "20"))),
        replace(RECORD, artifacts=DOWNLOADED),
    ],
    ids=["clean", "dirty", "no-git", "running", "parameters", "artifacts"],
)
def test_statement_conforms_to_in_toto_statement_v1_and_slsa_provenance_v1(
    record: BuildRecord,
) -> None:
    if not record.images:
        record = replace(record, images=(RegionImage("us-east-1", "ami-0123456789abcdef0"),))
    statement = provenance_statement(record, FILES, "0.1.0", {"argv": ["bake", record.recipe]})
    assert problems(statement) == []


REQUIRED = [
    ("_type",),
    ("subject",),
    ("predicateType",),
    ("predicate",),
    ("subject", 0, "digest"),
    ("predicate", "buildDefinition"),
    ("predicate", "buildDefinition", "buildType"),
    ("predicate", "buildDefinition", "externalParameters"),
    ("predicate", "runDetails"),
    ("predicate", "runDetails", "builder"),
    ("predicate", "runDetails", "builder", "id"),
]


@pytest.mark.parametrize("path", REQUIRED, ids=[".".join(map(str, p)) for p in REQUIRED])
def test_a_statement_missing_a_required_field_fails(path: tuple[str | int, ...]) -> None:
    statement = provenance_statement(RECORD, FILES, "0.1.0")
    broken = copy.deepcopy(statement)
    parent: Any = broken
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    assert f"'{path[-1]}' is a required property" in problems(broken)


def change(path: tuple[str | int, ...], value: object) -> Callable[[dict[str, Any]], None]:
    def apply(statement: dict[str, Any]) -> None:
        parent: Any = statement
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = value

    return apply


DEFINITION = ("predicate", "buildDefinition")
RUN = ("predicate", "runDetails")
WRONG = {
    "another statement type": change(("_type",), "https://in-toto.io/Statement/v0.1"),
    "another predicate type": change(("predicateType",), "https://slsa.dev/provenance/v0.2"),
    "no subject": change(("subject",), []),
    "a digest that is not hex": change(("subject", 0, "digest"), {"sha256": "us-east-1:ami-1"}),
    "an empty digest set": change(("subject", 0, "digest"), {}),
    "parameters that are a list": change((*DEFINITION, "externalParameters"), ["recipe"]),
    "a relative path as uri": change((*DEFINITION, "resolvedDependencies", 1, "uri"), "a.sh"),
    "a dependency with neither uri nor digest": change(
        (*DEFINITION, "resolvedDependencies", 1), {"name": "recipes/base.yaml"}
    ),
    "a time with an offset": change((*RUN, "metadata", "startedOn"), "2024-01-01T10:00:00+00:00"),
    "a time that is no time": change((*RUN, "metadata", "finishedOn"), "2024-13-01T10:00:00Z"),
    "a version that is a number": change((*RUN, "builder", "version", "packer"), 1.11),
    "a builder id that is no URI": change((*RUN, "builder", "id"), "bakery"),
    "a byproduct without a digest": change((*RUN, "byproducts"), [{"name": "sbom.json"}]),
    "a byproduct digest that is not hex": change(
        (*RUN, "byproducts"), [{"name": "sbom.json", "digest": {"sha256": "sbom.json"}}]
    ),
}


@pytest.mark.parametrize("mistake", list(WRONG))
def test_a_statement_with_a_wrong_value_fails(mistake: str) -> None:
    broken = copy.deepcopy(provenance_statement(RECORD, FILES, "0.1.0"))
    WRONG[mistake](broken)
    assert problems(broken)
