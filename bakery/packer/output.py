"""Read what `packer build -machine-readable` prints and what its manifest post-processor writes.

Pure: no subprocess; the only I/O is reading a manifest file the caller names.
Format: https://developer.hashicorp.com/packer/docs/commands#machine-readable-output
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bakery.errors import BakeryError

_TIMESTAMP = re.compile(r"\d+")
# "==> amazon-ebs.base: text", "--> amazon-ebs.base: text", "    amazon-ebs.base: text".
_PREFIX = re.compile(r"^(?:\s*(?:==>|-->)\s*|\s+)(?:[\w.-]+: )?")
_PAIR = re.compile(r"([a-z0-9-]+):(ami-[0-9a-f]+)")
_ERRORED = re.compile(r"^Build '([^']+)' errored")
_ERRORS_HEADER = "Some builds didn't complete successfully and had errors:"
_NO_ARTIFACTS = "Builds finished but no artifacts were created"
# 1.6 prints the first two on SIGINT; newer releases also report "Build cancelled".
_CANCELLED = (
    "Cancelling build after receiving interrupt",
    "Cleanly cancelled builds after being interrupted",
    "Build was cancelled",
    "Build cancelled",
)
_TRANSIENT = re.compile(
    r"RequestLimitExceeded|Throttling|Rate exceeded|InsufficientInstanceCapacity"
    r"|(?i:timeout (?:while )?waiting for)|ResourceNotReady: exceeded wait attempts"
    r"|InternalError|ServiceUnavailable|\bUnavailable\b"
    # the AWS SDK's network errors: the request may never have reached AWS
    r"|RequestError: send request failed|(?i:connection reset by peer|connection refused)"
    r"|(?i:i/o timeout)|(?i:TLS handshake timeout)|(?i:unexpected EOF)"
)


class ManifestError(BakeryError):
    """Packer's manifest file is missing, unreadable or lacks this run's build."""


@dataclass(frozen=True)
class MachineLine:
    """One line of machine-readable output, its data fields unescaped."""

    timestamp: int
    target: str
    type: str
    data: tuple[str, ...]


@dataclass(frozen=True)
class ManifestEntry:
    """The build a manifest post-processor recorded for one Packer run."""

    name: str
    builder_type: str
    build_time: int
    run_uuid: str
    artifact_id: str
    amis: dict[str, str]
    custom_data: dict[str, str]


def unescape(text: str) -> str:
    """Undo Packer's escaping of commas, newlines and carriage returns in a data field."""
    return text.replace("%!(PACKER_COMMA)", ",").replace("\\n", "\n").replace("\\r", "\r")


def parse_line(line: str) -> MachineLine | None:
    """Parse `timestamp,target,type,data...`; return None for any other line."""
    fields = line.rstrip("\r\n").split(",")
    if len(fields) < 3 or not _TIMESTAMP.fullmatch(fields[0]) or not fields[2]:
        return None
    return MachineLine(int(fields[0]), fields[1], fields[2], tuple(map(unescape, fields[3:])))


def parse_artifact_id(artifact_id: str) -> dict[str, str]:
    """Turn `region:ami-id,region:ami-id` into {region: AMI id}; ValueError if malformed."""
    amis: dict[str, str] = {}
    for piece in filter(None, (part.strip() for part in artifact_id.split(","))):
        match = _PAIR.fullmatch(piece)
        if match is None:
            raise ValueError(f"not a region:ami-id pair: {piece!r}")
        amis[match.group(1)] = match.group(2)
    return amis


def clean_text(text: str) -> str:
    """Drop the `==> name:` prefix from every line of a UI message and strip it."""
    return "\n".join(_PREFIX.sub("", line, count=1) for line in text.splitlines()).strip()


@dataclass
class OutputState:
    """What a running build has said so far; feed it stdout line by line."""

    step: str = ""
    errors: list[str] = field(default_factory=list)
    amis: dict[str, str] = field(default_factory=dict)
    artifact_ids: list[str] = field(default_factory=list)
    artifact_count: int | None = None
    problems: list[str] = field(default_factory=list)
    errored_builds: list[str] = field(default_factory=list)
    cancelled: bool = False
    no_artifacts: bool = False

    @property
    def succeeded(self) -> bool:
        """Whether the build produced AMIs and reported no error or cancellation."""
        failed = self.errored_builds or self.cancelled or self.no_artifacts
        return bool(self.amis) and not failed and not self.problems

    def feed(self, line: str) -> None:
        """Take one line of `packer build -machine-readable` output."""
        parsed = parse_line(line)
        if parsed is None or not parsed.data:
            return
        if parsed.type == "ui" and len(parsed.data) >= 2:
            self._ui(parsed.data[0], ",".join(parsed.data[1:]))
        elif parsed.type == "error":
            self._error(clean_text(",".join(parsed.data)))
        elif parsed.type == "artifact-count" and parsed.data[0].isdigit():
            self.artifact_count = int(parsed.data[0])
        elif parsed.type == "artifact" and len(parsed.data) >= 3 and parsed.data[1] == "id":
            self._artifact(parsed.target, parsed.data[0], ",".join(parsed.data[2:]))

    def _ui(self, kind: str, text: str) -> None:
        cleaned = clean_text(text)
        if any(marker in cleaned for marker in _CANCELLED):
            self.cancelled = True
        if _NO_ARTIFACTS in cleaned:
            self.no_artifacts = True
        if kind == "error":
            errored = _ERRORED.match(cleaned)
            if errored is not None and errored.group(1) not in self.errored_builds:
                self.errored_builds.append(errored.group(1))
            self._error(cleaned)
        elif kind in ("say", "message"):
            lines = [part.strip() for part in cleaned.splitlines() if part.strip()]
            if lines:
                self.step = lines[0]

    def _error(self, cleaned: str) -> None:
        # Packer reports each error up to three times, indented differently.
        known = {" ".join(error.split()) for error in self.errors}
        if cleaned and cleaned != _ERRORS_HEADER and " ".join(cleaned.split()) not in known:
            self.errors.append(cleaned)

    def _artifact(self, target: str, index: str, artifact_id: str) -> None:
        # With a manifest post-processor the builder's artifact is reported twice.
        if artifact_id in self.artifact_ids:
            return
        self.artifact_ids.append(artifact_id)
        for piece in filter(None, artifact_id.split(",")):
            match = _PAIR.fullmatch(piece.strip())
            if match is None:
                continue  # not an AMI (another post-processor's artifact)
            region, ami = match.groups()
            if self.amis.get(region, ami) != ami:
                self.problems.append(
                    f"{target} artifact {index}: {region} is {ami}, "
                    f"an earlier artifact said {self.amis[region]}"
                )
            self.amis.setdefault(region, ami)


def parse_output(text: str) -> OutputState:
    """Parse a whole recorded `packer build -machine-readable` output."""
    state = OutputState()
    for line in text.splitlines():
        state.feed(line)
    return state


def read_manifest(path: Path, build_name: str | None = None) -> ManifestEntry:
    """Return the manifest entry of the last Packer run (optionally of one named build)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ManifestError(
            f"{path}: Packer wrote no manifest; check the template's manifest post-processor "
            "and whether the build failed before it"
        ) from error
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ManifestError(f"{path}: cannot read Packer's manifest: {error}") from error
    builds = document.get("builds") if isinstance(document, dict) else None
    run_uuid = document.get("last_run_uuid") if isinstance(document, dict) else None
    if not isinstance(builds, list) or not isinstance(run_uuid, str):
        raise ManifestError(f"{path}: not a Packer manifest (no `builds` and `last_run_uuid`)")
    matches = [
        build
        for build in builds
        if isinstance(build, dict)
        and build.get("packer_run_uuid") == run_uuid
        and (build_name is None or build.get("name") == build_name)
    ]
    which = f"build {build_name!r} of run {run_uuid}" if build_name else f"run {run_uuid}"
    if len(matches) != 1:
        problem = "no entry" if not matches else f"{len(matches)} entries (name the build)"
        raise ManifestError(f"{path}: {problem} for the last Packer {which}")
    return _entry(path, matches[0])


def _entry(path: Path, build: dict[str, Any]) -> ManifestEntry:
    artifact_id = str(build.get("artifact_id", ""))
    try:
        amis = parse_artifact_id(artifact_id)
    except ValueError as error:
        raise ManifestError(f"{path}: artifact_id {artifact_id!r}: {error}") from error
    custom = build.get("custom_data")
    build_time = build.get("build_time")
    return ManifestEntry(
        name=str(build.get("name", "")),
        builder_type=str(build.get("builder_type", "")),
        build_time=build_time if isinstance(build_time, int) else 0,
        run_uuid=str(build["packer_run_uuid"]),
        artifact_id=artifact_id,
        amis=amis,
        custom_data={str(k): str(v) for k, v in custom.items()} if isinstance(custom, dict) else {},
    )


def cross_check(manifest: dict[str, str], machine: dict[str, str]) -> list[str]:
    """Describe every region where the manifest and the machine output disagree."""
    mismatches = []
    for region in sorted(manifest.keys() | machine.keys()):
        said, seen = manifest.get(region), machine.get(region)
        if said == seen:
            continue
        if seen is None:
            mismatches.append(f"{region}: the manifest has {said}; Packer's output has none")
        elif said is None:
            mismatches.append(f"{region}: Packer's output has {seen}; the manifest has none")
        else:
            mismatches.append(f"{region}: the manifest has {said}; Packer's output has {seen}")
    return mismatches


def classify_failure(text: str) -> Literal["transient"] | None:
    """Return "transient" when a failure is worth retrying (throttling, capacity, timeouts,
    network errors of Packer's AWS calls)."""
    return "transient" if _TRANSIENT.search(text) else None
