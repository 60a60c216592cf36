"""A `source "amazon-ebs"` block mapped onto a recipe's source, build, distribute, tags, AMI name
and description, setting by setting; whatever has no key is a finding."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bakery.config.amazon_ebs import AMAZON_EBS
from bakery.config.marks import PathKey
from bakery.config.schema import OWNED_ATTRIBUTES, REFUSED_CHARACTERS
from bakery.convert.expressions import Context, Result, deprecate_days, failed
from bakery.convert.findings import Finding
from bakery.convert.paths import ProjectPaths
from bakery.convert.template import Block, Body, Entry, Expression, Text, Value, Where

# Devices that are the root of the usual source images (Amazon Linux, Ubuntu, NVMe names).
ROOT_DEVICES = ("/dev/xvda", "/dev/sda1", "/dev/sda", "/dev/nvme0n1")
RESERVED_TAG = re.compile(r"\A(aws:|bakery:)|\Aname\Z", re.IGNORECASE)
_REFUSED_KEY = re.compile(REFUSED_CHARACTERS)
_SECRETISH = re.compile(r"password|secret|token|private_key|key_file|certificate", re.I)

# Settings with no equivalent, and why (the value is never shown: some are credentials).
NO_EQUIVALENT: dict[str, str] = {
    **dict.fromkeys(
        (
            "access_key",
            "secret_key",
            "token",
            "profile",
            "mfa_code",
            "shared_credentials_file",
            "assume_role",
            "vault_aws_engine",
        ),
        "credentials come from bakery.yaml (aws.profile, aws.accounts) and the environment, "
        "never from a recipe; the value is not shown",
    ),
    "ami_groups": "public sharing: bakery never makes an image public (EC2's only group is all)",
    "snapshot_groups": "public sharing: bakery never makes a snapshot public",
    "force_deregister": "bakery never replaces an image: every build's AMI name is its own",
    "force_delete_snapshot": "bakery never replaces an image, so deletes no snapshot",
    "skip_create_ami": "a bakery build always makes an image",
    "spot_tags": "bakery tags what it launches itself (build.run_tags)",
    "spot_tag": "bakery tags what it launches itself (build.run_tags)",
    "dynamic": "a dynamic block is an expression bakery does not evaluate",
    "windows_password_timeout": "bakery builds over SSH",
    "ssh_keypair_name": "bakery uses a temporary key pair (build.temporary_key_pair_type)",
    "ssh_private_key_file": "bakery uses a temporary key pair; the bake host's keys are not used",
    "ssh_agent_auth": "bakery uses a temporary key pair",
}


@dataclass(frozen=True)
class Mapped:
    """A source's recipe sections and the findings of its settings (anchored to a section)."""

    sections: Mapping[str, Any]
    findings: tuple[Finding, ...]


@dataclass
class _Out:
    """What the mapping of one source has made so far."""

    sections: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)


class _Mapper:
    def __init__(
        self, block: Block, body: Body, ctx: Context, paths: ProjectPaths, region: str | None
    ) -> None:
        self.block, self.body, self.ctx, self.paths, self.region = block, body, ctx, paths, region
        self.out = _Out()
        self.done: set[str] = set()

    # -- recording -------------------------------------------------------------------------

    def finding(self, where: Where, setting: str, message: str, anchor: str, changed: bool) -> None:
        self.out.findings.append(
            Finding(
                where,
                f"{self.block.title}: {setting}",
                message,
                "changed" if changed else "not mapped",
                anchor=anchor,
            )
        )

    def put(self, path: PathKey, result: Result, entry: Entry | Where, setting: str) -> bool:
        """Set `path` of the sections to the result's value; else report why not."""
        where = entry.where if isinstance(entry, Entry) else entry
        anchor = str(path[0])
        for note in result.notes:
            self.finding(where, setting, note, anchor, True)
        if result.omitted:
            self.finding(where, setting, str(result.problem), anchor, True)
            return False
        if not result.ok:
            self.finding(where, setting, str(result.problem), anchor, False)
            return False
        target = self.out.sections
        for key in path[:-1]:
            target = target.setdefault(str(key), {})
        target[str(path[-1])] = result.value
        return True

    def attr(self, name: str) -> Entry | None:
        self.done.add(name)
        return self.body.entry(name)

    # -- the settings ----------------------------------------------------------------------

    def run(self) -> Mapped:
        self.names()
        self.source()
        self.instance()
        self.volumes()
        self.tags()
        self.distribute()
        self.rest()
        return Mapped(self.out.sections, tuple(self.out.findings))

    def names(self) -> None:
        entry = self.attr("ami_name")
        if entry is not None:
            self.put(("ami_name",), self.ctx.text(entry.value, ("ami_name",)), entry, "ami_name")
        entry = self.attr("ami_description")
        if entry is not None:
            result = self.ctx.text(entry.value, ("description",))
            if result.ok and "{{" in str(result.value):
                result = failed("a description may not hold {{ (Packer would evaluate it)")
            if result.ok and len(str(result.value)) > 255:
                result = failed("a description is at most 255 characters")
            self.put(("description",), result, entry, "ami_description")
        entry = self.attr("region")
        if entry is not None:
            result = self.ctx.text(entry.value, ("region",), None)
            where = entry.where
            if not result.ok:
                self.finding(
                    where,
                    "region",
                    f"{result.problem}; the build region is bakery.yaml's aws.region",
                    "build",
                    False,
                )
            elif self.region is not None and result.value != self.region:
                self.finding(
                    where,
                    "region",
                    f"the template builds in {result.value}; bakery builds in bakery.yaml's "
                    f"aws.region ({self.region}): set it there, or copy with distribute.regions",
                    "build",
                    False,
                )
            else:
                self.finding(
                    where, "region", "the build region is bakery.yaml's aws.region", "build", True
                )

    def source(self) -> None:
        ami = self.attr("source_ami")
        filters = self.body.blocks("source_ami_filter")
        self.done.add("source_ami_filter")
        if ami is not None:
            code = ami.value.code if isinstance(ami.value, Expression) else None
            data = re.fullmatch(r"data\.([a-z0-9-]+)\.([A-Za-z0-9_-]+)\.(id|value)", code or "")
            if data:
                self.data_source(ami, data.group(1), data.group(2))
            else:
                self.put(
                    ("source", "ami"),
                    self.ctx.text(ami.value, ("source", "ami")),
                    ami,
                    "source_ami",
                )
            if filters:
                self.finding(
                    filters[0].where,
                    "source_ami_filter",
                    "source_ami is given too; bakery takes one source",
                    "source",
                    False,
                )
            return
        if filters:
            self.ami_filter(filters[0], "source_ami_filter")
            return
        self.finding(
            self.block.where,
            "source_ami",
            "the source has no source_ami or source_ami_filter; write the recipe's source",
            "source",
            False,
        )

    def data_source(self, entry: Entry, kind: str, name: str) -> None:
        block = next((b for b in self.ctx.template.data if b.labels == (kind, name)), None)
        if block is None:
            self.finding(
                entry.where, "source_ami", f"data.{kind}.{name} is not declared", "source", False
            )
            return
        if kind == "amazon-ami":
            self.ami_filter(block.body, f'data "{kind}" "{name}"')
        elif kind == "amazon-parameterstore":
            value = block.body.get("name")
            if value is None:
                self.finding(
                    block.where, f'data "{kind}" "{name}"', "it names no parameter", "source", False
                )
                return
            self.put(
                ("source", "ssm_parameter"),
                self.ctx.text(value, ("source", "ssm_parameter")),
                block.where,
                f'data "{kind}" "{name}": name',
            )
            for key in block.body.names():
                if key not in ("name", "region", "with_decryption"):
                    self.finding(
                        block.where,
                        f'data "{kind}" "{name}": {key}',
                        "no equivalent: bakery reads the parameter in the build region",
                        "source",
                        False,
                    )
        else:
            self.finding(
                entry.where,
                "source_ami",
                f"a {kind} data source has no equivalent",
                "source",
                False,
            )

    def ami_filter(self, body: Body, setting: str) -> None:
        path: PathKey = ("source", "filter")
        where = body.where
        filters = body.get("filters")
        if isinstance(filters, Body):
            for entry in filters.entries:
                key = entry.key
                if key == "name":
                    self.put(
                        (*path, "name"),
                        self.ctx.text(entry.value, (*path, "name")),
                        entry,
                        f"{setting}: filters.name",
                    )
                    continue
                if key == "architecture":
                    result = self.ctx.text(entry.value, (*path, "architecture"))
                    if (
                        not result.ok
                        or result.value in ("x86_64", "arm64")
                        or "((" in str(result.value)
                    ):
                        self.put(
                            (*path, "architecture"),
                            result,
                            entry,
                            f"{setting}: filters.architecture",
                        )
                        continue
                self.put(
                    (*path, "filters", key),
                    self.ctx.text(entry.value, (*path, "filters", key)),
                    entry,
                    f"{setting}: filters.{key}",
                )
        elif filters is not None:
            self.finding(where, f"{setting}: filters", "not a map of filters", "source", False)
        if "name" not in self.out.sections.get("source", {}).get("filter", {}):
            self.finding(where, setting, "bakery's filter needs filters.name", "source", False)
        owners = body.entry("owners")
        if owners is None:
            self.finding(
                where,
                f"{setting}: owners",
                "bakery's filter needs owners (accounts trusted in bakery.yaml)",
                "source",
                False,
            )
        else:
            self.put(
                (*path, "owners"),
                self.ctx.strings(owners.value, (*path, "owners")),
                owners,
                f"{setting}: owners",
            )
        recent = body.entry("most_recent")
        newest = recent is not None and self.ctx.boolean(recent.value, ()).value is True
        if not newest:
            self.finding(
                recent.where if recent else where,
                f"{setting}: most_recent",
                "most_recent = false has no equivalent: bakery always takes the newest match",
                "source",
                recent is None,
            )
        deprecated = body.entry("include_deprecated")
        if deprecated is not None:
            self.put(
                (*path, "include_deprecated"),
                self.ctx.boolean(deprecated.value, (*path, "include_deprecated")),
                deprecated,
                f"{setting}: include_deprecated",
            )
        for entry in body.entries:
            if entry.key not in ("filters", "owners", "most_recent", "include_deprecated"):
                self.finding(
                    entry.where, f"{setting}: {entry.key}", "no equivalent", "source", False
                )

    def instance(self) -> None:
        texts = (
            "instance_type",
            "ssh_username",
            "subnet_id",
            "vpc_id",
            "iam_instance_profile",
            "kms_key_id",
            "ssh_interface",
            "ssh_timeout",
            "temporary_key_pair_type",
            "user_data",
            "spot_price",
            "boot_mode",
            "tpm_support",
            "imds_support",
            "custom_endpoint_ec2",
        )
        for name in texts:
            entry = self.attr(name)
            if entry is not None:
                result = self.ctx.text(entry.value, ("build", name))
                if name in ("ssh_timeout",) and result.ok:
                    result = duration(str(result.value))
                if name == "imds_support" and result.ok and result.value not in ("v2.0",):
                    result = failed(f"{result.value!r}: bakery takes v2.0 or none")
                self.put(("build", name), result, entry, name)
        if self.body.entry("imds_support") is None:
            self.out.sections.setdefault("build", {})["imds_support"] = "none"
            self.finding(
                self.block.where,
                "imds_support",
                "the template does not require "
                "IMDSv2 of the image's instances (imds_support unset): written as "
                "imds_support: none; bakery's default is v2.0",
                "build",
                True,
            )
        bools = (
            "associate_public_ip_address",
            "ssh_pty",
            "ebs_optimized",
            "ena_support",
            "sriov_support",
        )
        for name in bools:
            entry = self.attr(name)
            if entry is not None:
                self.put(
                    ("build", name), self.ctx.boolean(entry.value, ("build", name)), entry, name
                )
        entry = self.attr("encrypt_boot")
        if entry is not None:
            self.put(
                ("build", "encrypted"),
                self.ctx.boolean(entry.value, ("build", "encrypted")),
                entry,
                "encrypt_boot",
            )
        else:
            self.out.sections.setdefault("build", {})["encrypted"] = False
            self.finding(
                self.block.where,
                "encrypt_boot",
                "the template does not encrypt the "
                "image (Packer's default): written as encrypted: false; bakery's "
                "default is true",
                "build",
                True,
            )
        for name in (
            "spot_instance_types",
            "temporary_security_group_source_cidrs",
            "ami_product_codes",
        ):
            entry = self.attr(name)
            if entry is not None:
                self.put(
                    ("build", name), self.ctx.strings(entry.value, ("build", name)), entry, name
                )
        groups: list[str] = []
        for name in ("security_group_id", "security_group_ids"):
            entry = self.attr(name)
            if entry is None:
                continue
            if name == "security_group_id":
                result = self.ctx.text(entry.value, ("build", "security_group_ids", 0))
                result = Result([result.value], result.problem, result.notes)
            else:
                result = self.ctx.strings(entry.value, ("build", "security_group_ids"))
            if self.put(
                ("build", "security_group_ids"),
                Result(groups + list(result.value or []), result.problem, result.notes),
                entry,
                name,
            ):
                groups = list(self.out.sections["build"]["security_group_ids"])
        entry = self.attr("user_data_file")
        if entry is not None:
            result = self.ctx.text(entry.value, ("build", "user_data_file"))
            if result.ok:
                result = self.paths.recipe_path(str(result.value))
            self.put(("build", "user_data_file"), result, entry, "user_data_file")
        entry = self.attr("deprecate_at")
        if entry is not None:
            days = deprecate_days(entry.value)
            result = (
                Result(days)
                if days
                else failed(
                    'only timeadd(timestamp(), "NNNh") of whole days maps '
                    "(build.deprecate_after_days)"
                )
            )
            self.put(("build", "deprecate_after_days"), result, entry, "deprecate_at")
        self.blocks_of(
            "metadata_options",
            ("http_endpoint", "http_tokens", "instance_metadata_tags"),
            ("http_put_response_hop_limit",),
            (),
        )
        if not self.body.blocks("metadata_options"):
            self.finding(
                self.block.where,
                "metadata_options",
                "the build instance gets bakery's default: IMDSv2 required (http_tokens: required)",
                "build",
                True,
            )
        self.blocks_of("aws_polling", (), ("delay_seconds", "max_attempts"), ())
        for name, extra_bools in (
            ("subnet_filter", ("most_free", "random")),
            ("security_group_filter", ()),
        ):
            self.blocks_of(name, (), (), extra_bools, filters=True)

    def blocks_of(
        self,
        name: str,
        texts: tuple[str, ...],
        numbers: tuple[str, ...],
        bools: tuple[str, ...],
        filters: bool = False,
    ) -> None:
        """A nested block (or object) of settings with its own key in build."""
        self.done.add(name)
        found = self.body.blocks(name)
        if not found:
            return
        body = found[0]
        base: PathKey = ("build", name)
        for entry in body.entries:
            setting = f"{name}: {entry.key}"
            key = entry.key
            if key in texts:
                self.put((*base, key), self.ctx.text(entry.value, (*base, key)), entry, setting)
            elif key in numbers:
                self.put((*base, key), self.ctx.integer(entry.value, (*base, key)), entry, setting)
            elif key in bools:
                self.put((*base, key), self.ctx.boolean(entry.value, (*base, key)), entry, setting)
            elif key == "filters" and filters:
                self.put(
                    (*base, key), self.ctx.string_map(entry.value, (*base, key)), entry, setting
                )
            else:
                self.finding(entry.where, setting, "no equivalent", "build", False)
        for extra in found[1:]:
            self.finding(extra.where, name, "given twice; the first is kept", "build", False)

    def volumes(self) -> None:
        self.done.update(("launch_block_device_mappings", "ami_block_device_mappings"))
        launch = self.body.blocks("launch_block_device_mappings")
        root_index = next(
            (i for i, b in enumerate(launch) if _device(b) in ROOT_DEVICES), 0 if launch else -1
        )
        if root_index < 0:
            self.finding(
                self.block.where,
                "launch_block_device_mappings",
                "the template sets no "
                "root volume (the source image's is used); bakery launches with "
                "volume_size 8, gp3, on /dev/xvda unless build says otherwise",
                "build",
                True,
            )
        others: list[dict[str, Any]] = []
        for index, body in enumerate(launch):
            if index == root_index:
                self.root_volume(body)
            else:
                volume = self.volume(
                    body, ("build", "volumes", len(others)), "launch_block_device_mappings"
                )
                if volume:
                    others.append(volume)
        if others:
            self.out.sections.setdefault("build", {})["volumes"] = others
        images = [
            volume
            for index, body in enumerate(self.body.blocks("ami_block_device_mappings"))
            if (
                volume := self.volume(
                    body, ("build", "ami_volumes", index), "ami_block_device_mappings"
                )
            )
        ]
        if images:
            self.out.sections.setdefault("build", {})["ami_volumes"] = images

    def root_volume(self, body: Body) -> None:
        setting = "launch_block_device_mappings"
        mapping = {
            "device_name": ("root_device", "text"),
            "volume_size": ("volume_size", "int"),
            "volume_type": ("volume_type", "text"),
            "iops": ("iops", "int"),
            "throughput": ("throughput", "int"),
        }
        for entry in body.entries:
            key = entry.key
            if key in mapping:
                target, kind = mapping[key]
                path: PathKey = ("build", target)
                result = (
                    self.ctx.text(entry.value, path)
                    if kind == "text"
                    else self.ctx.integer(entry.value, path)
                )
                self.put(path, result, entry, f"{setting}: {key}")
            elif key == "delete_on_termination":
                result = self.ctx.boolean(entry.value, ())
                if not (result.ok and result.value is True):
                    self.finding(
                        entry.where,
                        f"{setting}: {key}",
                        "bakery always deletes the root volume of the build instance",
                        "build",
                        False,
                    )
            elif key in ("encrypted", "kms_key_id"):
                self.finding(
                    entry.where,
                    f"{setting}: {key}",
                    "the image's encryption is "
                    "build.encrypted and build.kms_key_id (encrypt_boot, kms_key_id)",
                    "build",
                    False,
                )
            else:
                self.finding(
                    entry.where,
                    f"{setting}: {key}",
                    "no equivalent for the root volume",
                    "build",
                    False,
                )

    def volume(self, body: Body, path: PathKey, setting: str) -> dict[str, Any]:
        found: dict[str, Any] = {}
        kinds: dict[str, Callable[[Value, PathKey], Result]] = {
            "device_name": self.ctx.text,
            "volume_size": self.ctx.integer,
            "volume_type": self.ctx.text,
            "iops": self.ctx.integer,
            "throughput": self.ctx.integer,
            "encrypted": self.ctx.boolean,
            "kms_key_id": self.ctx.text,
            "delete_on_termination": self.ctx.boolean,
            "snapshot_id": self.ctx.text,
            "no_device": self.ctx.boolean,
        }
        for entry in body.entries:
            convert = kinds.get(entry.key)
            if convert is None:
                self.finding(
                    entry.where, f"{setting}: {entry.key}", "no equivalent", "build", False
                )
                continue
            result = convert(entry.value, (*path, entry.key))
            for note in result.notes:
                self.finding(entry.where, f"{setting}: {entry.key}", note, "build", True)
            if result.ok:
                found[entry.key] = result.value
            else:
                self.finding(
                    entry.where, f"{setting}: {entry.key}", str(result.problem), "build", False
                )
        if "device_name" not in found:
            self.finding(
                body.where, setting, "a volume without device_name is left out", "build", False
            )
            return {}
        return found

    def tags(self) -> None:
        tags = self.tag_map("tags", "tag", ("tags",))
        if tags is not None:
            self.out.sections["tags"] = tags
        snapshot = self.tag_map("snapshot_tags", "snapshot_tag", ("tags",), report=False)
        if snapshot is not None and snapshot != (tags or {}):
            entry = self.body.entry("snapshot_tags") or self.body.entry("snapshot_tag")
            where = entry.where if entry else self.block.where
            self.finding(
                where,
                "snapshot_tags",
                "bakery tags the snapshots as the image (tags); "
                "snapshot tags of their own have no equivalent",
                "tags",
                False,
            )
        run = self.tag_map("run_tags", "run_tag", ("build", "run_tags"))
        if run:
            self.out.sections.setdefault("build", {})["run_tags"] = run
        volume = self.tag_map(
            "run_volume_tags", "run_volume_tag", ("build", "run_tags"), report=False
        )
        if volume is not None and volume != (run or {}):
            entry = self.body.entry("run_volume_tags") or self.body.entry("run_volume_tag")
            where = entry.where if entry else self.block.where
            self.finding(
                where,
                "run_volume_tags",
                "bakery tags the build's volumes with "
                "build.run_tags; volume tags of their own have no equivalent",
                "build",
                False,
            )

    def tag_map(
        self, name: str, block: str, path: PathKey, report: bool = True
    ) -> dict[str, str] | None:
        self.done.update((name, block))
        entry = self.body.entry(name)
        pairs = self.body.blocks(block)
        if entry is None and not pairs:
            return None
        found: dict[str, str] = {}
        anchor = str(path[0])
        items: list[tuple[str, Value, Where]] = []
        if entry is not None:
            followed, notes = self.ctx.follow(entry.value)
            for note in notes:
                if report:
                    self.finding(entry.where, name, note, anchor, True)
            if isinstance(followed, Body):
                items += [(e.key, e.value, e.where) for e in followed.entries]
            elif report:
                self.finding(entry.where, name, "not a map of tags", anchor, False)
        for pair in pairs:
            key_value, value_of = pair.get("key"), pair.get("value")
            key_text = key_value.literal if isinstance(key_value, Text) else None
            if key_text is None or value_of is None:
                if report:
                    self.finding(
                        pair.where,
                        block,
                        "a tag block needs a literal key and a value",
                        anchor,
                        False,
                    )
                continue
            items.append((key_text, value_of, pair.where))
        for key, given, where in items:
            setting = f"{name}: {key}"
            if _REFUSED_KEY.search(key):
                if report:
                    self.finding(
                        where,
                        setting,
                        "a tag key with a control character; not written",
                        anchor,
                        False,
                    )
                continue
            if "${" in key or "{{" in key or "((" in key:
                if report:
                    self.finding(
                        where,
                        setting,
                        "a tag key is an expression; bakery takes keys as text",
                        anchor,
                        False,
                    )
                continue
            if RESERVED_TAG.search(key) and path == ("tags",):
                if report:
                    if key.lower() == "name":
                        self.finding(
                            where, setting, "bakery sets Name itself: the AMI name", anchor, True
                        )
                    else:
                        self.finding(
                            where,
                            setting,
                            "a reserved tag key (bakery sets bakery:* itself; aws:* is AWS's)",
                            anchor,
                            False,
                        )
                continue
            result = self.ctx.text(given, (*path, key))
            if report:
                for note in result.notes:
                    self.finding(where, setting, note, anchor, True)
            if result.ok:
                found[key] = str(result.value)
            elif report:
                self.finding(where, setting, str(result.problem), anchor, False)
        return found

    def distribute(self) -> None:
        lists = (
            ("ami_regions", "regions"),
            ("ami_users", "accounts"),
            ("ami_org_arns", "organizations"),
            ("ami_ou_arns", "organizational_units"),
        )
        for name, key in lists:
            entry = self.attr(name)
            if entry is not None:
                result = self.ctx.strings(entry.value, ("distribute", key))
                if result.ok and not result.value:
                    continue
                self.put(("distribute", key), result, entry, name)
        entry = self.attr("snapshot_users")
        if entry is not None:
            result = self.ctx.strings(entry.value, ("distribute", "accounts"))
            if not result.ok or result.value != self.out.sections.get("distribute", {}).get(
                "accounts", []
            ):
                self.finding(
                    entry.where,
                    "snapshot_users",
                    "bakery gives the snapshots the "
                    "accounts of the image (distribute.accounts); other snapshot "
                    "users have no equivalent",
                    "distribute",
                    False,
                )
        entry = self.attr("region_kms_key_ids")
        if entry is not None:
            self.put(
                ("distribute", "kms_key_ids"),
                self.ctx.string_map(entry.value, ("distribute", "kms_key_ids")),
                entry,
                "region_kms_key_ids",
            )

    def rest(self) -> None:
        """Every other attribute: no equivalent, `build.extra`, or not amazon-ebs at all."""
        owned = set(OWNED_ATTRIBUTES)
        for entry in self.body.entries:
            name = entry.key
            if name in self.done:
                continue
            if name in NO_EQUIVALENT:
                listed = self.ctx.strings(entry.value, ())
                if name in ("ami_groups", "snapshot_groups") and listed.ok and not listed.value:
                    continue  # an empty list shares nothing
                self.finding(entry.where, name, NO_EQUIVALENT[name], "build", False)
                continue
            if name == "communicator":
                result = self.ctx.text(entry.value, (), None)
                if not (result.ok and result.value == "ssh"):
                    self.finding(entry.where, name, "bakery connects over SSH", "build", False)
                continue
            kind = AMAZON_EBS.get(name)
            if kind is None:
                self.finding(entry.where, name, "not an attribute of amazon-ebs", "build", False)
                continue
            if name.startswith(("packer_", "winrm_")) or _SECRETISH.search(name):
                why = (
                    "Packer's own"
                    if name.startswith("packer_")
                    else "bakery builds over SSH with a temporary key"
                    if name.startswith("winrm_")
                    else "a credential or key of the bake host; the value is not shown"
                )
                self.finding(entry.where, name, why, "build", False)
                continue
            if name in owned or kind == "block":
                self.finding(entry.where, name, "no equivalent", "build", False)
                continue
            self.extra(entry, kind)

    def extra(self, entry: Entry, kind: str) -> None:
        path: PathKey = ("build", "extra", entry.key)
        result: Result
        if kind == "cty.String":
            result = self.ctx.text(entry.value, path)
        elif kind == "cty.Bool":
            result = self.ctx.boolean(entry.value, path)
        elif kind == "cty.Number":
            result = self.ctx.integer(entry.value, path)
        elif kind.startswith("cty.List"):
            result = self.ctx.strings(entry.value, path)
        elif kind.startswith("cty.Map"):
            result = self.ctx.string_map(entry.value, path)
        else:
            result = failed("no equivalent")
        if result.ok:
            self.finding(entry.where, entry.key, "passed to Packer as build.extra", "build", True)
        self.put(path, result, entry, entry.key)


def _device(body: Body) -> str | None:
    value = body.get("device_name")
    return value.literal if isinstance(value, Text) else None


def map_source(
    block: Block, body: Body, ctx: Context, paths: ProjectPaths, region: str | None
) -> Mapped:
    """Map one amazon-ebs source (its block, with the build's settings for it merged in)."""
    return _Mapper(block, body, ctx, paths, region).run()


_GO_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)")


def duration(text: str) -> Result:
    """A Packer duration (`5m`, `1h30m`, `90s`, `1.5h`) as bakery writes one (`1h30m`)."""
    if "((" in text:
        return Result(text)
    stripped = text.strip()
    if stripped in ("0", ""):
        return Result("0s")
    parts = _GO_DURATION.findall(stripped)
    if not parts or "".join(n + u for n, u in parts) != stripped:
        return failed(f"{text!r} is not a duration")
    scale = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    seconds_float = sum(float(number) * scale[unit] for number, unit in parts)
    seconds = int(seconds_float)
    notes: tuple[str, ...] = ()
    if seconds != seconds_float:
        seconds += 1
        notes = (f"{text} is rounded up to whole seconds",)
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out += f"{seconds // size}{unit}"
            seconds %= size
    return Result(out or "0s", notes=notes)
