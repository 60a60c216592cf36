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
    # A filter's other DescribeImages filters (name → value), and whether deprecated images count.
    filters: Mapping[str, str] = field(default_factory=_frozen)
    include_deprecated: bool = False

    @property
    def external(self) -> bool:
        return self.kind != "recipe"

    def describe(self) -> str:
        if self.kind == "filter":
            return f"filter {self.value} (owners {', '.join(self.owners)})"
        return f"{self.kind.replace('_', ' ')} {self.value}"


DEFAULT_INSTANCE_TYPES = {"x86_64": "t3.micro", "arm64": "t4g.micro"}
ExtraValue = str | int | bool | tuple[str | int, ...] | Mapping[str, str]


@dataclass(frozen=True)
class Volume:
    """A block device of the build instance (`volumes`) or of the image (`ami_volumes`)."""

    device_name: str
    volume_size: int | None = None
    volume_type: str | None = None
    iops: int | None = None
    throughput: int | None = None
    encrypted: bool | None = None
    kms_key_id: str | None = None
    delete_on_termination: bool | None = None
    snapshot_id: str | None = None
    no_device: bool | None = None


@dataclass(frozen=True)
class MetadataOptions:
    """The build instance's metadata service; IMDSv2 (`http_tokens: required`) unless set."""

    http_endpoint: str = "enabled"
    http_tokens: str = "required"
    http_put_response_hop_limit: int | None = None
    instance_metadata_tags: str | None = None
    given: bool = False  # the recipe or bakery.yaml set metadata_options


@dataclass(frozen=True)
class NetworkFilter:
    """A subnet or security-group filter: EC2 filters, and for subnets how to pick one."""

    filters: Mapping[str, str]
    most_free: bool | None = None
    random: bool | None = None


@dataclass(frozen=True)
class Polling:
    delay_seconds: int | None = None
    max_attempts: int | None = None


@dataclass(frozen=True)
class BuildSettings:
    """How the builder instance, its connection, and the image's volumes are set up."""

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
    architecture: str = "x86_64"
    iops: int | None = None
    throughput: int | None = None
    metadata_options: MetadataOptions = field(default_factory=MetadataOptions)
    imds_support: str = "v2.0"
    ssh_interface: str | None = None
    ssh_pty: bool | None = None
    ssh_timeout: str | None = None
    temporary_key_pair_type: str | None = None
    temporary_security_group_source_cidrs: tuple[str, ...] = ()
    vpc_id: str | None = None
    subnet_filter: NetworkFilter | None = None
    security_group_filter: NetworkFilter | None = None
    user_data: str | None = None
    user_data_file: str | None = None  # project-relative POSIX path
    run_tags: Mapping[str, str] = field(default_factory=_frozen)
    spot_instance_types: tuple[str, ...] = ()
    spot_price: str | None = None
    ebs_optimized: bool | None = None
    ena_support: bool | None = None
    sriov_support: bool | None = None
    boot_mode: str | None = None
    tpm_support: str | None = None
    volumes: tuple[Volume, ...] = ()
    ami_volumes: tuple[Volume, ...] = ()
    deprecate_after_days: int | None = None
    ami_product_codes: tuple[str, ...] = ()
    custom_endpoint_ec2: str | None = None
    aws_polling: Polling | None = None
    extra: Mapping[str, ExtraValue] = field(default_factory=_frozen)

    @property
    def timeout_seconds(self) -> int:
        return parse_duration(self.timeout)

    @property
    def root_iops(self) -> int | None:
        """The root volume's IOPS: as set, else 3000 for gp3 (its baseline)."""
        return self.iops if self.iops is not None else (3000 if self.volume_type == "gp3" else None)

    @property
    def root_throughput(self) -> int | None:
        """The root volume's throughput (MiB/s): as set, else 125 for gp3 (its baseline)."""
        if self.throughput is not None:
            return self.throughput
        return 125 if self.volume_type == "gp3" else None


RunAs = Literal["root", "user"]


@dataclass(frozen=True)
class StepOptions:
    """How Packer runs a step: the arguments of its provisioner block."""

    pause_before: str | None = None
    timeout: str | None = None
    max_retries: int | None = None
    expect_disconnect: bool | None = None  # shell steps
    start_retry_timeout: str | None = None  # shell steps


@dataclass(frozen=True)
class TreeFile:
    """One file of an uploaded folder: its project path, its path inside the upload, its mode."""

    path: str  # project-relative POSIX path
    name: str  # relative POSIX path where it lands under the destination
    mode: int  # 0o755 or 0o644: the executable bit is what git records


@dataclass(frozen=True)
class ScriptStep:
    path: str  # project-relative POSIX path
    env: Mapping[str, str] = field(default_factory=_frozen)
    args: tuple[str, ...] = ()
    run_as: RunAs = "root"
    options: StepOptions = field(default_factory=StepOptions)
    mode: int = 0o755


@dataclass(frozen=True)
class InlineStep:
    commands: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=_frozen)
    run_as: RunAs = "user"
    shebang: str | None = None  # None: `/bin/sh` with `set -e`, as Packer's default
    options: StepOptions = field(default_factory=StepOptions)


@dataclass(frozen=True)
class FileStep:
    """Upload a file, or a folder's files (`files`), as one archive that keeps their modes."""

    source: str  # project-relative POSIX path (of the file, or of the folder)
    destination: str
    files: tuple[TreeFile, ...] = ()  # every file of the upload, sorted by name
    folder: bool = False
    run_as: RunAs = "user"
    options: StepOptions = field(default_factory=StepOptions)


@dataclass(frozen=True)
class DownloadStep:
    """Fetch a file from the instance into the build's artifacts/ folder."""

    source: str  # path on the instance
    destination: str  # relative path under artifacts/
    options: StepOptions = field(default_factory=StepOptions)


@dataclass(frozen=True)
class RebootStep:
    """Reboot the instance, then wait `pause` and reconnect for at most `timeout`."""

    pause: str = "30s"
    timeout: str = "10m"
    options: StepOptions = field(default_factory=StepOptions)


@dataclass(frozen=True)
class AnsibleStep:
    """Run a playbook on the instance (connection local), its folder uploaded whole."""

    playbook: str  # path of the playbook inside the folder
    folder: str  # project-relative POSIX path of the uploaded folder
    files: tuple[TreeFile, ...] = ()
    galaxy_file: str | None = None  # path inside the folder
    extra_vars: Mapping[str, str | int | bool] = field(default_factory=_frozen)
    env: Mapping[str, str] = field(default_factory=_frozen)
    run_as: RunAs = "root"
    options: StepOptions = field(default_factory=StepOptions)


Step = ScriptStep | InlineStep | FileStep | DownloadStep | RebootStep | AnsibleStep


@dataclass(frozen=True)
class Distribution:
    regions: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    kms_key_ids: Mapping[str, str] = field(default_factory=_frozen)
    organizations: tuple[str, ...] = ()
    organizational_units: tuple[str, ...] = ()


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
        if self.build.user_data_file:
            paths.append(self.build.user_data_file)
        for step in self.provision:
            if isinstance(step, ScriptStep):
                paths.append(step.path)
            elif isinstance(step, FileStep | AnsibleStep):
                paths.extend(item.path for item in step.files)
        return tuple(dict.fromkeys(paths))


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
    resolve_upload: Any = None,
) -> Recipe:
    """Make a Recipe from a schema-valid document; `resolve(path, key)` maps recipe paths to
    project-relative ones, `resolve_upload(path, key, folder_ok)` to (path, files, is_folder)."""
    source_data = data["source"]
    kind: SourceKind = next(k for k in SOURCE_KINDS if k in source_data)
    raw = source_data[kind]
    if kind == "filter":
        source = Source(
            kind,
            raw["name"],
            tuple(raw["owners"]),
            raw.get("architecture"),
            _frozen(raw.get("filters")),
            bool(raw.get("include_deprecated", False)),
        )
    else:
        source = Source(kind, raw)
    build = _build_settings(data, defaults, source, resolve)
    upload = resolve_upload or _plain_upload(resolve)
    steps = [_step(item, index, upload) for index, item in enumerate(data.get("provision", []))]
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
        build=build,
        environment=_frozen(data.get("environment")),
        provision=tuple(steps),
        distribute=Distribution(
            tuple(dist.get("regions", ())),
            tuple(dist.get("accounts", ())),
            _frozen(dist.get("kms_key_ids")),
            tuple(dist.get("organizations", ())),
            tuple(dist.get("organizational_units", ())),
        ),
        tests=tuple(data.get("tests", ())),
        tags=_frozen(data.get("tags")),
        hygiene=Hygiene(bool(hygiene.get("skip", False)), hygiene.get("reason")),
        shareable=bool(data.get("licensing", {}).get("shareable", False)),
        keep=data.get("retention", {}).get("keep"),
        max_age_days=data.get("retention", {}).get("max_age_days"),
        max_age=data.get("max_age"),
    )


def _plain_upload(resolve: Any) -> Any:
    def upload(
        raw: str, where: tuple[Any, ...], folder_ok: bool
    ) -> tuple[str, tuple[TreeFile, ...], bool]:
        path = resolve(raw, where)
        return path, (TreeFile(path, PurePosixPath(path).name, 0o644),), False

    return upload


def _volume(data: Mapping[str, Any]) -> Volume:
    return Volume(**dict(data))


def _build_settings(
    data: Mapping[str, Any], defaults: Mapping[str, Any], source: Source, resolve: Any
) -> BuildSettings:
    given = data.get("build", {})
    merged: dict[str, Any] = {**defaults, **given}
    # Mappings of settings merge key by key (bakery.yaml's, then the recipe's).
    for key in ("metadata_options", "run_tags", "extra", "aws_polling"):
        if isinstance(defaults.get(key), Mapping) and isinstance(given.get(key), Mapping):
            merged[key] = {**defaults[key], **given[key]}
    architecture = merged.get("architecture") or source.architecture or "x86_64"
    merged["architecture"] = architecture
    merged.setdefault("instance_type", DEFAULT_INSTANCE_TYPES[architecture])
    for key in (
        "security_group_ids",
        "temporary_security_group_source_cidrs",
        "spot_instance_types",
        "ami_product_codes",
    ):
        if key in merged:
            merged[key] = tuple(merged[key])
    if "metadata_options" in merged:
        merged["metadata_options"] = MetadataOptions(**merged["metadata_options"], given=True)
    for key in ("subnet_filter", "security_group_filter"):
        if key in merged:
            item = dict(merged[key])
            merged[key] = NetworkFilter(_frozen(item.pop("filters")), **item)
    if "aws_polling" in merged:
        merged["aws_polling"] = Polling(**merged["aws_polling"])
    for key in ("volumes", "ami_volumes"):
        if key in merged:
            merged[key] = tuple(_volume(item) for item in merged[key])
    if "run_tags" in merged:
        merged["run_tags"] = _frozen(merged["run_tags"])
    if "extra" in merged:
        merged["extra"] = MappingProxyType(
            {
                key: tuple(value)
                if isinstance(value, list)
                else (_frozen(value) if isinstance(value, Mapping) else value)
                for key, value in merged["extra"].items()
            }
        )
    if "user_data_file" in merged:
        where = ("build", "user_data_file") if "user_data_file" in given else ("defaults",)
        merged["user_data_file"] = resolve(merged["user_data_file"], where)
    return BuildSettings(**merged)


def _inside(path: str, folder: str) -> str:
    """`path` relative to `folder` (both project-relative); unchanged when it is not inside
    (bakery.config.rules reports that)."""
    if folder in ("", "."):
        return path
    pure, base = PurePosixPath(path), PurePosixPath(folder)
    return pure.relative_to(base).as_posix() if pure.is_relative_to(base) else path


_OPTION_KEYS = (
    "pause_before",
    "timeout",
    "max_retries",
    "expect_disconnect",
    "start_retry_timeout",
)


def _step(item: Mapping[str, Any], index: int, upload: Any) -> Step:
    options = StepOptions(**{key: item[key] for key in _OPTION_KEYS if key in item})
    env = _frozen(item.get("env"))
    if "script" in item:
        path, files, _ = upload(item["script"], ("provision", index, "script"), False)
        return ScriptStep(
            path,
            env,
            tuple(item.get("args", ())),
            item.get("run_as", "root"),
            options,
            files[0].mode if files else 0o755,
        )
    if "inline" in item:
        return InlineStep(
            tuple(item["inline"]), env, item.get("run_as", "user"), item.get("shebang"), options
        )
    if "file" in item:
        where = ("provision", index, "file", "source")
        path, files, folder = upload(item["file"]["source"], where, True)
        return FileStep(
            path, item["file"]["destination"], files, folder, item.get("run_as", "user"), options
        )
    if "download" in item:
        return DownloadStep(item["download"]["source"], item["download"]["destination"], options)
    if "reboot" in item:
        reboot = item["reboot"] or {}
        return RebootStep(reboot.get("pause", "30s"), reboot.get("timeout", "10m"), options)
    spec = item["ansible"]
    base = ("provision", index, "ansible")
    playbook, _, _ = upload(spec["playbook"], (*base, "playbook"), False)
    folder_raw = spec.get("folder") or (str(PurePosixPath(spec["playbook"]).parent) + "/")
    where = (*base, "folder" if "folder" in spec else "playbook")
    folder, files, _ = upload(folder_raw.rstrip("/") + "/", where, True)
    galaxy = None
    if "galaxy_file" in spec:
        galaxy, _, _ = upload(spec["galaxy_file"], (*base, "galaxy_file"), False)
    return AnsibleStep(
        playbook=_inside(playbook, folder),
        folder=folder,
        files=files,
        galaxy_file=None if galaxy is None else _inside(galaxy, folder),
        extra_vars=MappingProxyType(dict(spec.get("extra_vars", {}))),
        env=env,
        run_as=item.get("run_as", "root"),
        options=options,
    )


def upload_name(index: int, path: str) -> str:
    """Name a step's upload in the build folder: `steps/02-install-nginx.sh`."""
    base = re.sub(r"[^A-Za-z0-9._-]", "_", PurePosixPath(path).name) or "file"
    return f"steps/{index:02d}-{base}"
