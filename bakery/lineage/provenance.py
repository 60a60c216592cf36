"""SLSA provenance v1 for a build, as an in-toto Statement v1 (https://slsa.dev/spec/v1.0/provenance).

Subjects are the build's AMIs, one per region, named `ami://REGION/AMI-ID`. An AMI has no content
digest that anyone can recompute, but in-toto requires a digest map on every subject, so each one
carries `{"sha256": sha256("REGION:AMI-ID")}`: a stable identifier of the image, not a hash of its
bytes. What the image was made from is pinned by `internalParameters.input_hash` and by the
digests of the resolved dependencies.

The files the build downloaded from its instance (kept in `.bakery/builds/<id>/artifacts/`, see
`bakery.lineage.artifacts`) are `runDetails.byproducts`: each named by its path below
`artifacts/`, with its sha256 and, as an annotation, its size in bytes.

Times are written as RFC 3339 UTC timestamps ("...Z"), which in-toto requires whatever offset a
record was stored with. A file is named by a `git+file:` URI only when it is known to be as
committed; otherwise by its project path (`name`) and digest alone, as a bare path is no URI.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bakery.errors import BakeryError
from bakery.lineage.records import BuildRecord, iso_utc

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://bakery.dev/packer-amazon-ebs/v1"
BUILDER_ID = "https://bakery.dev/builder"


def ami_uri(region: str, ami_id: str) -> str:
    """Return the URI that names an AMI in a region."""
    return f"ami://{region}/{ami_id}"


def ami_digest(region: str, ami_id: str) -> str:
    """Return the sha256 hex of "REGION:AMI-ID", the stand-in digest of an AMI."""
    return hashlib.sha256(f"{region}:{ami_id}".encode()).hexdigest()


def _source_dependency(record: BuildRecord) -> dict[str, Any]:
    source = record.source
    annotations: dict[str, Any] = {"kind": source.kind, "reference": source.reference}
    if source.kind == "ssm_parameter":
        annotations["ssmParameter"] = source.reference
    if source.ssm_version is not None:
        annotations["ssmVersion"] = source.ssm_version
    if source.owner is not None:
        annotations["owner"] = source.owner
    if source.product_codes:
        annotations["productCodes"] = list(source.product_codes)
    if record.parent_build_id is not None:
        annotations["parentBuildId"] = record.parent_build_id
    return {
        "uri": ami_uri(record.region, source.resolved_ami),
        "name": "source-ami",
        "annotations": annotations,
    }


def _file_dependency(path: str, sha256: str, commit: str | None, dirty: bool) -> dict[str, Any]:
    dependency: dict[str, Any] = {"name": path, "digest": {"sha256": sha256}}
    # A file is only known to be as committed when the work tree was clean.
    if commit and not dirty:
        dependency["uri"] = f"git+file:{path}@{commit}"
    return dependency


def _timestamp(text: str | None) -> str | None:
    """Return a record time as an RFC 3339 UTC timestamp; None when there is none to read."""
    try:
        moment = datetime.fromisoformat(text or "")
    except ValueError:
        return None
    return iso_utc(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def provenance_statement(
    record: BuildRecord,
    files: Mapping[str, str],
    bakery_version: str,
    invocation: Mapping[str, object] | None = None,
) -> dict[str, Any]:
    """Return the SLSA provenance statement of a build; `files` maps project paths to sha256."""
    if not record.images:
        raise BakeryError(
            f"build {record.build_id} ({record.recipe}, {record.status}) has no image; "
            "provenance describes the images of a build"
        )
    external: dict[str, Any] = {
        "recipe": record.recipe,
        "version": record.version,
        "layer": record.layer,
        "source": {"kind": record.source.kind, "reference": record.source.reference},
    }
    if record.parameters:  # the resolved value of each parameter the recipe used
        external["parameters"] = dict(record.parameters)
    if invocation is not None:
        external["invocation"] = dict(invocation)
    dependencies = [_source_dependency(record)]
    dependencies += [
        _file_dependency(path, digest, record.git_commit, record.git_dirty)
        for path, digest in sorted(files.items())
    ]
    if record.git_commit:
        dependencies.append(
            {
                "uri": f"git:{record.git_commit}",
                "digest": {"gitCommit": record.git_commit},
                "annotations": {"dirty": record.git_dirty},
            }
        )
    builder_version = {"bakery": bakery_version}
    if record.packer_version is not None:
        builder_version["packer"] = record.packer_version
    metadata = {"invocationId": record.build_id}
    for key, value in (("startedOn", record.started_at), ("finishedOn", record.ended_at)):
        stamp = _timestamp(value)
        if stamp is not None:
            metadata[key] = stamp
    run_details: dict[str, Any] = {
        "builder": {"id": BUILDER_ID, "version": builder_version},
        "metadata": metadata,
    }
    if record.artifacts:
        run_details["byproducts"] = [
            {
                "name": artifact.name,
                "digest": {"sha256": artifact.sha256},
                "annotations": {"size": artifact.size},
            }
            for artifact in record.artifacts
        ]
    return {
        "_type": STATEMENT_TYPE,
        "subject": [
            {
                "name": ami_uri(image.region, image.ami_id),
                "digest": {"sha256": ami_digest(image.region, image.ami_id)},
            }
            for image in record.images
        ],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": external,
                "internalParameters": {
                    "input_hash": record.input_hash,
                    "template_sha256": record.template_sha256,
                    "region": record.region,
                },
                "resolvedDependencies": dependencies,
            },
            "runDetails": run_details,
        },
    }
