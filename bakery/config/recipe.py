"""The recipe model: frozen values built from a recipe document that passed its schema."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from types import MappingProxyType
from typing import Any, Literal

Layer = Literal["base", "hardening", "app"]
SourceKind = Literal["ssm_parameter", "ami", "filter", "recipe"]
SOURCE_KINDS: tuple[SourceKind, ...] = ("ssm_parameter", "ami", "filter", "recipe")
DEFAULT_TIMEOUT = "90m"


def _frozen(mapping: Mapping[str, str] | None = None) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Source:
    """Where a recipe's build starts: an external image, or another recipe's newest image."""

    kind: SourceKind
    value: str  # parameter name, AMI id, AMI name pattern, or recipe name
    owners: tuple[str, ...] = ()
    architecture: str | None = None

    @property
    def external(self) -> bool:
        return self.kind != "recipe"

    def describe(self) -> str:
        if self.kind == "filter":
            return f"filter {self.value} (owners {', '.join(self.owners)})"
        return f"{self.kind.replace('_', ' ')} {self.value}"


@dataclass(frozen=True)
class BuildSettings:
    """How the builder instance and the image's root volume are set up."""

    instance_type: str = "t3.micro"
    ssh_username: str = "ec2-user"
    volume_size: int = 8
    volume_type: str = "gp3"
    root_device: str = "/dev/xvda"
    encrypted: bool = True
    kms_key_id: str | None = None
    timeout: str = DEFAULT_TIMEOUT
    subnet_id: str | None = None
    security_group_ids: tuple[str, ...] = ()
    iam_instance_profile: str | None = None
    associate_public_ip_address: bool | None = None

    @property
    def timeout_seconds(self) -> int:
        return parse_duration(self.timeout)


@dataclass(frozen=True)
class ScriptStep:
    path: str  # project-relative POSIX path
    env: Mapping[str, str] = field(default_factory=_frozen)


@dataclass(frozen=True)
class InlineStep:
    commands: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=_frozen)


@dataclass(frozen=True)
class FileStep:
    source: str  # project-relative POSIX path
    destination: str


Step = ScriptStep | InlineStep | FileStep


@dataclass(frozen=True)
class Distribution:
    regions: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    kms_key_ids: Mapping[str, str] = field(default_factory=_frozen)


@dataclass(frozen=True)
class Hygiene:
    skip: bool = False
    reason: str | None = None


@dataclass(frozen=True)
class Recipe:
    """One validated recipe with the project defaults merged into its build settings."""

    name: str
    layer: Layer
    version: str
    source: Source
    file: str  # project-relative path of the recipe file
    region: str
    description: str = ""
    build: BuildSettings = field(default_factory=BuildSettings)
    environment: Mapping[str, str] = field(default_factory=_frozen)
    provision: tuple[Step, ...] = ()
    distribute: Distribution = field(default_factory=Distribution)
    tests: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=_frozen)
    hygiene: Hygiene = field(default_factory=Hygiene)
    shareable: bool = False  # licensing.shareable: Marketplace product codes may be shared
    keep: int | None = None  # retention.keep, over bakery.yaml's
    max_age_days: int | None = None  # retention.max_age_days, over bakery.yaml's
    max_age: str | None = None  # rebuild when the newest image is older, over bakery.yaml's
    # A family's instance: the family (the name the recipe file declares), else None.
    family: str | None = None
    # The resolved value of every parameter the recipe uses (matrix ones included), as text.
    parameters: Mapping[str, str] = field(default_factory=_frozen)
    # The AMI name template with load-time references resolved; None: NAME-VERSION-TIMESTAMP.
    ami_name: str | None = None
    # A family's instance: the matrix parameters that tell the family's instances apart.
    axes: tuple[str, ...] = ()

    @property
    def parent(self) -> str | None:
        """The recipe this one builds on, if any."""
        return self.source.value if self.source.kind == "recipe" else None

    @property
    def used_files(self) -> tuple[str, ...]:
        """Project-relative paths of every script and file the recipe uploads, in step order."""
        paths: list[str] = []
        for step in self.provision:
            if isinstance(step, ScriptStep):
                paths.append(step.path)
            elif isinstance(step, FileStep):
                paths.append(step.source)
        return tuple(paths)


_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str) -> int:
    """Turn `30d`, `1h30m`, `90m` or `45s` into seconds."""
    match = _DURATION.match(text)
    if not match or not text:
        raise ValueError(f"not a duration: {text!r}")
    days, hours, minutes, seconds = (int(part) if part else 0 for part in match.groups())
    return days * 86400 + hours * 3600 + minutes * 60 + seconds


def build_recipe(
    data: Mapping[str, Any],
    *,
    file: str,
    region: str,
    defaults: Mapping[str, Any],
    resolve: Any,
) -> Recipe:
    """Make a Recipe from a schema-valid document; `resolve(path, key)` maps recipe paths."""
    source_data = data["source"]
    kind: SourceKind = next(k for k in SOURCE_KINDS if k in source_data)
    raw = source_data[kind]
    if kind == "filter":
        source = Source(kind, raw["name"], tuple(raw["owners"]), raw.get("architecture"))
    else:
        source = Source(kind, raw)
    build_data = {**defaults, **data.get("build", {})}
    if "security_group_ids" in build_data:
        build_data["security_group_ids"] = tuple(build_data["security_group_ids"])
    steps: list[Step] = []
    for index, item in enumerate(data.get("provision", [])):
        if "script" in item:
            path = resolve(item["script"], ("provision", index, "script"))
            steps.append(ScriptStep(path, _frozen(item.get("env"))))
        elif "inline" in item:
            steps.append(InlineStep(tuple(item["inline"]), _frozen(item.get("env"))))
        else:
            path = resolve(item["file"]["source"], ("provision", index, "file", "source"))
            steps.append(FileStep(path, item["file"]["destination"]))
    dist = data.get("distribute", {})
    hygiene = data.get("hygiene", {})
    return Recipe(
        name=data["name"],
        layer=data["layer"],
        version=data["version"],
        source=source,
        file=file,
        region=region,
        description=data.get("description", ""),
        build=BuildSettings(**build_data),
        environment=_frozen(data.get("environment")),
        provision=tuple(steps),
        distribute=Distribution(
            tuple(dist.get("regions", ())),
            tuple(dist.get("accounts", ())),
            _frozen(dist.get("kms_key_ids")),
        ),
        tests=tuple(data.get("tests", ())),
        tags=_frozen(data.get("tags")),
        hygiene=Hygiene(bool(hygiene.get("skip", False)), hygiene.get("reason")),
        shareable=bool(data.get("licensing", {}).get("shareable", False)),
        keep=data.get("retention", {}).get("keep"),
        max_age_days=data.get("retention", {}).get("max_age_days"),
        max_age=data.get("max_age"),
    )


def upload_name(index: int, path: str) -> str:
    """Name a step's upload in the build folder: `steps/02-install-nginx.sh`."""
    base = re.sub(r"[^A-Za-z0-9._-]", "_", PurePosixPath(path).name) or "file"
    return f"steps/{index:02d}-{base}"
