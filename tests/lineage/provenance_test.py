from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import pytest

from bakery.aws.facts import SourceInfo
from bakery.errors import BakeryError
from bakery.lineage.provenance import provenance_statement
from bakery.lineage.records import BuildRecord, RegionImage, Status

PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
RECORD = BuildRecord(
    build_id="01HF7YAT001XZYMP3JVNYP40MD",
    recipe="base",
    version="1.2.0",
    layer="base",
    status=Status.SUCCEEDED,
    started_at="2024-01-01T10:00:00+00:00",
    ended_at="2024-01-01T10:04:00+00:00",
    input_hash="ab" * 32,
    source=SourceInfo("ssm_parameter", PARAMETER, "ami-src", ssm_version=42, owner="amazon"),
    region="us-east-1",
    packer_version="1.11.2",
    git_commit="c0ffee00",
    template_sha256="cd" * 32,
    images=(RegionImage("us-east-1", "ami-111"), RegionImage("eu-west-1", "ami-222")),
)
FILES = {"scripts/setup.sh": "11" * 32, "recipes/base.yaml": "22" * 32}


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
        "input_hash": "ab" * 32,
        "template_sha256": "cd" * 32,
        "region": "us-east-1",
    }
    source, first, second, commit = definition["resolvedDependencies"]
    assert source["uri"] == "ami://us-east-1/ami-src"
    assert source["annotations"]["ssmParameter"] == PARAMETER
    assert source["annotations"]["ssmVersion"] == 42
    assert first == {
        "uri": "git+file:recipes/base.yaml@c0ffee00",
        "name": "recipes/base.yaml",
        "digest": {"sha256": "22" * 32},
    }
    assert second["name"] == "scripts/setup.sh"
    assert commit["uri"] == "git:c0ffee00"
    assert commit["digest"] == {"gitCommit": "c0ffee00"}


def test_files_of_a_dirty_tree_are_named_by_path_alone() -> None:
    dirty = replace(RECORD, git_dirty=True)
    dependencies = provenance_statement(dirty, FILES, "0.1.0")["predicate"]["buildDefinition"][
        "resolvedDependencies"
    ]
    assert dependencies[1]["uri"] == "recipes/base.yaml"
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
        "startedOn": "2024-01-01T10:00:00+00:00",
        "finishedOn": "2024-01-01T10:04:00+00:00",
    }


def test_a_build_without_images_has_no_provenance() -> None:
    failed = replace(RECORD, status=Status.FAILED, images=())
    with pytest.raises(BakeryError, match="has no image"):
        provenance_statement(failed, FILES, "0.1.0")
