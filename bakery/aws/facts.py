"""Plain, frozen facts the AWS gateway reports: what a source resolved to, what a command on an
instance printed, which images exist and what uses them. Pure values, so the planning code above
the gateway (bake, prune, lineage) can take them without importing any AWS client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bakery.config.tags import BUILD_DATE_TAG, REVOKED_TAG

PUBLIC = "all"  # in ImageFacts.shared_with: the image is public


@dataclass(frozen=True)
class SourceInfo:
    """Where a build started: the source as written and what it resolved to."""

    kind: str  # ssm_parameter | ami | filter | recipe
    reference: str  # parameter name, AMI id, name pattern, or recipe name
    resolved_ami: str
    ssm_version: int | None = None
    owner: str | None = None
    product_codes: tuple[str, ...] = ()


CLOCK_AHEAD_SECONDS = 300  # a build date later than AWS's CreationDate by more: a wrong clock


@dataclass(frozen=True)
class CommandResult:
    command: str
    status: str  # Success, Failed, TimedOut, Cancelled, ...
    exit_code: int | None
    output: str = ""


@dataclass(frozen=True)
class ImageFacts:
    """One image as listed in one region."""

    region: str
    ami_id: str
    recipe: str | None
    managed: bool
    owner_id: str
    own_account: bool
    build_date: datetime | None  # bakery:build-date, else CreationDate; None when neither
    snapshot_ids: tuple[str, ...] = ()
    shared_with: tuple[str, ...] = ()  # account ids, organization ARNs, PUBLIC
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def revoked(self) -> bool:
        return REVOKED_TAG in self.tags


@dataclass(frozen=True)
class InstanceUse:
    instance_id: str
    state: str


@dataclass(frozen=True)
class TemplateUse:
    template_id: str
    version: int
    parameter: str | None = None  # the resolve:ssm: reference the version names, if any


@dataclass(frozen=True)
class UsageFacts:
    """What uses images in one region, keyed by AMI id."""

    region: str
    instances: Mapping[str, tuple[InstanceUse, ...]] = field(default_factory=dict)
    launch_templates: Mapping[str, tuple[TemplateUse, ...]] = field(default_factory=dict)
    launch_configurations: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    channels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # parameter names


def parse_build_date(tags: Mapping[str, str], creation_date: str | None) -> datetime | None:
    """Return the image's build date: its bakery:build-date tag, else its CreationDate (UTC).

    The tag holds the clock of the machine that built it, CreationDate the clock of AWS: a
    build cannot start after its image was made, so a tag later than CreationDate (by more than
    a few minutes) is a clock that was ahead, and CreationDate is taken.
    """
    tagged, created = _parse(tags.get(BUILD_DATE_TAG)), _parse(creation_date)
    if tagged and created and (tagged - created).total_seconds() > CLOCK_AHEAD_SECONDS:
        return created
    return tagged or created


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return _utc(datetime.fromisoformat(text))
    except ValueError:
        return None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
