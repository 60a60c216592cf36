"""Builder leftovers: what a build left behind, tagged with its build id or tied to it by evidence.

Tagged: instances, key pairs and security groups carrying `bakery:build-id` whose build is not
running any more. Untagged: Packer 1.6 creates its temporary key pair and security group without
tags, and when a copy to another region fails it leaves its encrypted build-region image
untagged. Those are leftovers only with evidence that ties them to exactly one recorded build
that finished without succeeding (failed, cancelled, interrupted, abandoned): the build log
names them, they belong to the build's builder instance, they bear the build's AMI name, or (the
weakest, used only where nothing stronger is known) they were created during the build. Every
leftover says why in `reason`. A resource another build could claim (one still running, one
that succeeded) is never a leftover, nor an image or snapshot the lineage store records, nor
anything carrying a `bakery:` tag besides the tagged kinds above (images with bakery's tags are
prune's business).

Builder instances are only ever found by their tag: Packer tags them at launch (`run_tags`) and
bakery's bake policy refuses to launch one without `bakery:build-id` (`LaunchOnlyTaggedInstances`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from bakery.aws.session import AwsError, Gateway, calling
from bakery.config.paths import has_control, inside, is_regular_file

BUILD_TAG = "bakery:build-id"
BAKERY_TAG_PREFIX = "bakery:"
PACKER_PREFIX = "packer_"  # Packer's temporary key pair and security group: packer_<uuid>
# A smoke-test instance younger than this may belong to a `bakery test` still running.
SMOKE_TEST_GRACE = timedelta(hours=2)
LIVE_INSTANCE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"]
# Record times are whole seconds (truncated); AWS stamps its own clock. A resource created this
# close outside a build's start or end still counts as created during it.
WINDOW_SLACK = timedelta(seconds=5)
# Statuses whose builds' untagged resources are never reaped: the build may still use them, or
# they are part of what it made.
KEPT_STATUSES = frozenset({"running", "succeeded"})

# What Packer's output (1.6 and the current Amazon plugin alike) says it created.
_KEY_PAIR = re.compile(r"Creating temporary keypair: (packer_[0-9A-Za-z_-]+)")
_GROUP = re.compile(r"Creating temporary security group for this instance: (packer_[0-9A-Za-z_-]+)")
_INSTANCE = re.compile(r"Instance ID: (i-[0-9a-f]+)")
# "AMI: ami-…" after "Creating AMI …", the intermediate image it encrypts, the copies it changes;
# never "Found Image ID: ami-…", the source.
_IMAGE = re.compile(
    r"(?:[\w.-]+: AMI: |(?:Copying/Encrypting|Modifying attributes on|Adding tags to) AMI \()"
    r"(ami-[0-9a-f]+)"
)
_ARTIFACT = re.compile(r",artifact,\d+,id,(.*)$")
_ARTIFACT_IMAGE = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d+:(ami-[0-9a-f]+)")
_SNAPSHOT = re.compile(
    r"(?:Tagging snapshot: |Modifying attributes on snapshot \()(snap-[0-9a-f]+)"
)
# The instance and image a snapshot's description names ("Created by CreateImage(i-…) for ami-…").
_DESCRIBED = re.compile(r"\b(?:i|ami)-[0-9a-f]+\b")


@dataclass(frozen=True)
class Leftover:
    kind: str  # instance | key-pair | security-group | image | snapshot
    resource_id: str
    region: str
    build_id: str
    name: str = ""
    reason: str = ""  # the evidence that it is a leftover of build_id
    snapshots: tuple[str, ...] = ()  # of an image: deleted after it is deregistered


@dataclass(frozen=True)
class LogNames:
    """What a build log says Packer created (ids, and names of key pairs and security groups)."""

    readable: bool = False
    key_pairs: frozenset[str] = frozenset()
    security_groups: frozenset[str] = frozenset()
    instances: frozenset[str] = frozenset()
    images: frozenset[str] = frozenset()
    snapshots: frozenset[str] = frozenset()


@dataclass(frozen=True)
class BuildClues:
    """What one recorded build tells reap about the resources its Packer made (plain values)."""

    build_id: str
    status: str  # the record's status
    region: str  # the build region: where Packer made its key pair and security group
    started: datetime | None
    ended: datetime | None  # None while running (or when the record does not say)
    ami_name: str = ""  # the exact AMI name the build's template computed
    ami_name_prefix: str = ""  # NAME-VERSION-, the AMI name without its timestamp
    source_ami: str = ""
    log: LogNames = field(default_factory=LogNames)
    log_path: str = ""

    @property
    def reapable(self) -> bool:
        return self.status not in KEPT_STATUSES

    def during(self, moment: datetime) -> bool:
        """Say whether `moment` falls in the build's lifetime (open-ended while it runs)."""
        if self.started is None or (self.ended is None and self.status != "running"):
            return False
        if moment < self.started - WINDOW_SLACK:
            return False
        return self.ended is None or moment <= self.ended + WINDOW_SLACK

    @property
    def window(self) -> str:
        start = _stamp(self.started) if self.started else "?"
        return f"{start} to {_stamp(self.ended) if self.ended else 'now'}"

    @property
    def called(self) -> str:
        return f"build {self.build_id} ({self.status})"


def log_names(lines: Iterable[str]) -> LogNames:
    """Read what Packer's output says it created (pure)."""
    found: dict[str, set[str]] = {k: set() for k in ("key", "group", "instance", "image", "snap")}
    for line in lines:
        line = line.rstrip("\r\n")
        for kind, pattern in (
            ("key", _KEY_PAIR),
            ("group", _GROUP),
            ("instance", _INSTANCE),
            ("image", _IMAGE),
            ("snap", _SNAPSHOT),
        ):
            found[kind].update(pattern.findall(line))
        artifact = _ARTIFACT.search(line)
        if artifact:
            found["image"].update(_ARTIFACT_IMAGE.findall(artifact.group(1)))
    return LogNames(
        True,
        frozenset(found["key"]),
        frozenset(found["group"]),
        frozenset(found["instance"]),
        frozenset(found["image"]),
        frozenset(found["snap"]),
    )


def read_log(root: Path, log_path: str | None) -> LogNames:
    """Read a build's log, a project-relative path from its record; nothing if it is unsafe.

    The recorded path is untrusted (a store can be edited, imported or shared): an absolute
    path, a `..`, a control character, a link out of the project or anything but a regular file
    is not read, and neither is a missing or unreadable log.
    """
    if not log_path or has_control(log_path):
        return LogNames()
    relative = PurePosixPath(log_path.replace("\\", "/"))
    if relative.is_absolute() or PureWindowsPath(log_path).drive or ".." in relative.parts:
        return LogNames()
    path = root / relative
    if not inside(path, root.resolve()) or not is_regular_file(path):
        return LogNames()
    try:
        with path.open(encoding="utf-8", errors="replace") as log:
            return log_names(log)
    except OSError:
        return LogNames()


@dataclass(frozen=True)
class InstanceFacts:
    instance_id: str
    state: str
    tags: Mapping[str, str]
    key_name: str = ""
    group_ids: tuple[str, ...] = ()
    launched: datetime | None = None


@dataclass(frozen=True)
class KeyPairFacts:
    pair_id: str
    name: str
    tags: Mapping[str, str]
    created: datetime | None = None


@dataclass(frozen=True)
class GroupFacts:
    group_id: str
    name: str
    tags: Mapping[str, str]


@dataclass(frozen=True)
class ImageFacts:
    image_id: str
    name: str
    tags: Mapping[str, str]
    snapshot_ids: tuple[str, ...] = ()
    created: datetime | None = None
    source_instance: str = ""


@dataclass(frozen=True)
class SnapshotFacts:
    snapshot_id: str
    tags: Mapping[str, str]
    description: str = ""


@dataclass(frozen=True)
class RegionFacts:
    """What one region holds that could be a leftover: one Describe per kind."""

    instances: tuple[InstanceFacts, ...] = ()
    key_pairs: tuple[KeyPairFacts, ...] = ()
    groups: tuple[GroupFacts, ...] = ()
    images: tuple[ImageFacts, ...] = ()  # the account's own (read only when a build is reapable)
    snapshots: tuple[SnapshotFacts, ...] = ()


def find_leftovers(
    gateway: Gateway,
    region: str,
    build_running: Callable[[str], bool],
    builds: Sequence[BuildClues] = (),
    recorded: Collection[str] = frozenset(),
) -> list[Leftover]:
    """List what finished builds left in `region`: tagged, or untagged with evidence.

    `builds` are the recorded builds (their clues), `recorded` every AMI and snapshot id the
    lineage store records; images and snapshots are read only when some build is reapable.
    """
    facts = gather(gateway, region, images=any(build.reapable for build in builds))
    return leftovers_in(region, facts, build_running, builds, recorded)


def gather(gateway: Gateway, region: str, *, images: bool) -> RegionFacts:
    """Describe the region's instances, key pairs, security groups (and images, snapshots)."""
    ec2 = gateway.client("ec2", region)
    instances: list[InstanceFacts] = []
    with calling("ec2", "DescribeInstances", region):
        # every state: a terminated builder still names its key pair and security groups
        for page in ec2.get_paginator("describe_instances").paginate():
            for reservation in page["Reservations"]:
                instances.extend(_instance(item) for item in reservation["Instances"])
    with calling("ec2", "DescribeKeyPairs", region):
        pairs = tuple(
            KeyPairFacts(
                pair["KeyPairId"], pair.get("KeyName", ""), _tags(pair), _moment(pair, "CreateTime")
            )
            for pair in ec2.describe_key_pairs()["KeyPairs"]
        )
    with calling("ec2", "DescribeSecurityGroups", region):
        groups = tuple(
            GroupFacts(group["GroupId"], group.get("GroupName", ""), _tags(group))
            for page in ec2.get_paginator("describe_security_groups").paginate()
            for group in page["SecurityGroups"]
        )
    if not images:
        return RegionFacts(tuple(instances), pairs, groups)
    with calling("ec2", "DescribeImages", region):
        found_images = tuple(
            _image(image)
            for page in ec2.get_paginator("describe_images").paginate(Owners=["self"])
            for image in page["Images"]
        )
    with calling("ec2", "DescribeSnapshots", region):
        snapshots = tuple(
            SnapshotFacts(item["SnapshotId"], _tags(item), item.get("Description", ""))
            for page in ec2.get_paginator("describe_snapshots").paginate(OwnerIds=["self"])
            for item in page["Snapshots"]
        )
    return RegionFacts(tuple(instances), pairs, groups, found_images, snapshots)


def leftovers_in(
    region: str,
    facts: RegionFacts,
    build_running: Callable[[str], bool],
    builds: Sequence[BuildClues] = (),
    recorded: Collection[str] = frozenset(),
) -> list[Leftover]:
    """Decide what in `facts` is a leftover, and why (pure)."""
    statuses = {build.build_id: build.status for build in builds}
    tagged = _tagged(region, facts, build_running, statuses)
    seen = {item.resource_id for item in tagged}
    untagged = _untagged(region, facts, builds, recorded)
    return tagged + [item for item in untagged if item.resource_id not in seen]


def _tagged(
    region: str,
    facts: RegionFacts,
    build_running: Callable[[str], bool],
    statuses: Mapping[str, str],
) -> list[Leftover]:
    def reason(build_id: str) -> str:
        status = statuses.get(build_id)
        article = "an" if status and status[0] in "aeiou" else "a"
        of = f"{article} {status} build" if status else "a build the lineage store does not know"
        return f"tagged {BUILD_TAG}={build_id}, {of}"

    found: list[Leftover] = []
    for instance in facts.instances:
        build_id = instance.tags.get(BUILD_TAG)
        if build_id is None or instance.state not in LIVE_INSTANCE_STATES:
            continue
        if _recent_smoke_test(instance):
            continue  # `bakery test` may still be using it; it terminates its own
        found.append(Leftover("instance", instance.instance_id, region, build_id, ""))
    for pair in facts.key_pairs:
        if BUILD_TAG in pair.tags:
            found.append(
                Leftover("key-pair", pair.pair_id, region, pair.tags[BUILD_TAG], pair.name)
            )
    for group in facts.groups:
        if BUILD_TAG in group.tags:
            build_id = group.tags[BUILD_TAG]
            found.append(Leftover("security-group", group.group_id, region, build_id, group.name))
    return [
        Leftover(i.kind, i.resource_id, i.region, i.build_id, i.name, reason(i.build_id))
        for i in found
        if not build_running(i.build_id)
    ]


@dataclass(frozen=True)
class _Claim:
    build: BuildClues
    strong: bool  # named by the log, the builder or the AMI name; weak: only the time
    reason: str


def _untagged(
    region: str,
    facts: RegionFacts,
    builds: Sequence[BuildClues],
    recorded: Collection[str],
) -> list[Leftover]:
    if not any(build.reapable for build in builds):
        return []
    sources = {build.source_ami for build in builds}
    in_use = {snapshot for image in facts.images for snapshot in image.snapshot_ids}
    pairs = [p for p in facts.key_pairs if _untagged_packer(p.name, p.tags)]
    groups = [g for g in facts.groups if _untagged_packer(g.name, g.tags)]
    images = [
        i
        for i in facts.images
        if not _bakery_tagged(i.tags) and i.image_id not in recorded and i.image_id not in sources
    ]
    snapshots = [
        s
        for s in facts.snapshots
        if not _bakery_tagged(s.tags)
        and s.snapshot_id not in recorded
        and s.snapshot_id not in in_use
    ]
    claims: dict[tuple[str, str], list[_Claim]] = {}

    def claim(kind: str, resource: str, build: BuildClues, strong: bool, reason: str) -> None:
        claims.setdefault((kind, resource), []).append(_Claim(build, strong, reason))

    for build in builds:
        named = f"named in the log of {build.called}" + (
            f", {build.log_path}" if build.log_path else ""
        )
        builders = [
            i
            for i in facts.instances
            if i.tags.get("bakery:purpose") != "smoke-test"
            and (i.tags.get(BUILD_TAG) == build.build_id or i.instance_id in build.log.instances)
        ]
        for pair in pairs:
            owner = next((i for i in builders if i.key_name == pair.name), None)
            if pair.name in build.log.key_pairs:
                claim("key-pair", pair.pair_id, build, True, named)
            elif owner is not None:
                text = f"key pair of builder instance {owner.instance_id} of {build.called}"
                claim("key-pair", pair.pair_id, build, True, text)
            elif (
                # A finished build's log that names key pairs names all it made; a running
                # build's may lag behind (or fail to be written): it keeps its whole window.
                (not build.log.key_pairs or build.status == "running")
                and region == build.region
                and pair.created is not None
                and build.during(pair.created)
            ):
                text = (
                    f"{PACKER_PREFIX} key pair created {_stamp(pair.created)}, during "
                    f"{build.called} ({build.window})"
                )
                claim("key-pair", pair.pair_id, build, False, text)
        for group in groups:
            owner = next((i for i in builders if group.group_id in i.group_ids), None)
            if group.name in build.log.security_groups:
                claim("security-group", group.group_id, build, True, named)
            elif owner is not None:
                text = f"security group of builder instance {owner.instance_id} of {build.called}"
                claim("security-group", group.group_id, build, True, text)
        builder_ids = {i.instance_id for i in builders}
        for image in images:
            if image.image_id in build.log.images:
                claim("image", image.image_id, build, True, named)
            elif build.ami_name and image.name == build.ami_name:
                text = f"untagged image named {image.name}, the AMI name of {build.called}"
                claim("image", image.image_id, build, True, text)
            elif image.source_instance and image.source_instance in builder_ids:
                text = f"image of builder instance {image.source_instance} of {build.called}"
                claim("image", image.image_id, build, True, text)
            elif (
                build.ami_name_prefix
                and image.name.startswith(build.ami_name_prefix)
                and image.created is not None
                and build.during(image.created)
            ):
                text = (
                    f"untagged image created {_stamp(image.created)}, during {build.called} "
                    f"({build.window}), with its AMI name prefix {build.ami_name_prefix}"
                )
                claim("image", image.image_id, build, False, text)
        for snapshot in snapshots:
            described = set(_DESCRIBED.findall(snapshot.description))
            builder = sorted(described & builder_ids)
            image_named = sorted(described & build.log.images - sources)
            if snapshot.snapshot_id in build.log.snapshots:
                claim("snapshot", snapshot.snapshot_id, build, True, named)
            elif builder:
                text = f"snapshot of builder instance {builder[0]} of {build.called}"
                claim("snapshot", snapshot.snapshot_id, build, True, text)
            elif image_named:
                text = f"snapshot of image {image_named[0]}, named in the log of {build.called}"
                claim("snapshot", snapshot.snapshot_id, build, True, text)

    names = {
        **{("key-pair", p.pair_id): p.name for p in pairs},
        **{("security-group", g.group_id): g.name for g in groups},
        **{("image", i.image_id): i.name for i in images},
    }
    image_snapshots = {i.image_id: i.snapshot_ids for i in images}
    found: list[Leftover] = []
    for (kind, resource), made in claims.items():
        chosen = _one_claim(made)
        if chosen is None:
            continue
        snapshots_of: tuple[str, ...] = ()
        if kind == "image":
            others = {s for i in facts.images if i.image_id != resource for s in i.snapshot_ids}
            snapshots_of = tuple(
                s for s in image_snapshots[resource] if s not in others and s not in recorded
            )
        found.append(
            Leftover(
                kind,
                resource,
                region,
                chosen.build.build_id,
                names.get((kind, resource), ""),
                chosen.reason,
                snapshots_of,
            )
        )
    return found


def _one_claim(claims: Sequence[_Claim]) -> _Claim | None:
    """The claim that makes a resource a leftover: strongest evidence, one build, reapable."""
    strong = [c for c in claims if c.strong]
    chosen = strong or list(claims)
    if len({c.build.build_id for c in chosen}) != 1 or not chosen[0].build.reapable:
        return None  # two builds could own it, or its build runs or succeeded: leave it
    return chosen[0]


def _untagged_packer(name: str, tags: Mapping[str, str]) -> bool:
    return name.startswith(PACKER_PREFIX) and not _bakery_tagged(tags)


def _bakery_tagged(tags: Mapping[str, str]) -> bool:
    return any(key.startswith(BAKERY_TAG_PREFIX) for key in tags)


def _recent_smoke_test(instance: InstanceFacts) -> bool:
    if instance.tags.get("bakery:purpose") != "smoke-test":
        return False
    if instance.launched is None:
        return False
    return datetime.now(UTC) - instance.launched < SMOKE_TEST_GRACE


def _tags(data: Mapping[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in data.get("Tags") or []}


def _moment(data: Mapping[str, Any], key: str) -> datetime | None:
    value = data.get(key)
    if isinstance(value, str):  # DescribeImages' CreationDate: 2024-01-01T10:00:03.000Z
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _instance(data: Mapping[str, Any]) -> InstanceFacts:
    return InstanceFacts(
        data["InstanceId"],
        data.get("State", {}).get("Name", ""),
        _tags(data),
        data.get("KeyName", ""),
        tuple(group["GroupId"] for group in data.get("SecurityGroups") or []),
        _moment(data, "LaunchTime"),
    )


def _image(data: Mapping[str, Any]) -> ImageFacts:
    snapshots = tuple(
        mapping["Ebs"]["SnapshotId"]
        for mapping in data.get("BlockDeviceMappings") or []
        if mapping.get("Ebs", {}).get("SnapshotId")
    )
    return ImageFacts(
        data["ImageId"],
        data.get("Name", ""),
        _tags(data),
        snapshots,
        _moment(data, "CreationDate"),
        data.get("SourceInstanceId", ""),
    )


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def remove_leftovers(gateway: Gateway, leftovers: list[Leftover]) -> list[str]:
    """Terminate instances, deregister images and delete their snapshots, then delete
    snapshots, key pairs and security groups; return the problems."""
    problems: list[str] = []
    by_region: dict[str, list[Leftover]] = {}
    for item in leftovers:
        by_region.setdefault(item.region, []).append(item)
    for region, items in by_region.items():
        ec2 = gateway.client("ec2", region)
        instances = [i.resource_id for i in items if i.kind == "instance"]
        if instances:
            try:
                with calling("ec2", "TerminateInstances", region, ", ".join(instances)):
                    ec2.terminate_instances(InstanceIds=instances)
                    ec2.get_waiter("instance_terminated").wait(
                        InstanceIds=instances, WaiterConfig={"Delay": 5, "MaxAttempts": 120}
                    )
            except AwsError as error:
                problems.append(str(error))
        for item in sorted(items, key=lambda i: _REMOVAL_ORDER.get(i.kind, 0)):
            try:
                _remove(ec2, region, item, problems)
            except AwsError as error:
                problems.append(str(error))
    return problems


# Images before snapshots (a snapshot in use cannot go), key pairs and groups after instances.
_REMOVAL_ORDER = {"image": 1, "snapshot": 2, "key-pair": 3, "security-group": 4}


def _remove(ec2: Any, region: str, item: Leftover, problems: list[str]) -> None:
    if item.kind == "key-pair":
        with calling("ec2", "DeleteKeyPair", region, item.resource_id):
            # by name: EC2 takes either, the emulator only the name
            ec2.delete_key_pair(KeyName=item.name)
    elif item.kind == "security-group":
        with calling("ec2", "DeleteSecurityGroup", region, item.resource_id):
            ec2.delete_security_group(GroupId=item.resource_id)
    elif item.kind == "image":
        with calling("ec2", "DeregisterImage", region, item.resource_id):
            ec2.deregister_image(ImageId=item.resource_id)
        for snapshot in item.snapshots:  # only once the image is gone: it used them
            try:
                with calling("ec2", "DeleteSnapshot", region, snapshot):
                    ec2.delete_snapshot(SnapshotId=snapshot)
            except AwsError as error:
                problems.append(str(error))
    elif item.kind == "snapshot":
        with calling("ec2", "DeleteSnapshot", region, item.resource_id):
            ec2.delete_snapshot(SnapshotId=item.resource_id)
