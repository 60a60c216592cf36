"""Recipe → Packer HCL2 through the Jinja2 templates; every value goes through one HCL filter."""

from __future__ import annotations

import os
import posixpath
import re
import shlex
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from bakery.config.params import resolve_build_references
from bakery.config.paths import has_control, shown
from bakery.config.recipe import (
    AnsibleStep,
    DownloadStep,
    FileStep,
    InlineStep,
    RebootStep,
    Recipe,
    ScriptStep,
    Step,
    StepOptions,
    Volume,
    parse_duration,
    upload_name,
)
from bakery.config.settings import reboot_line
from bakery.config.tags import BUILD_TAG_VARIABLES, image_tags, run_tags
from bakery.errors import BakeryError, UsageError
from bakery.render import hcl
from bakery.render.input_hash import content_digest, sha256_hex

TemplateDialect = Literal["1.6", "1.7+"]
TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
TEMPLATE = "amazon-ebs.pkr.hcl.j2"
HYGIENE_SCRIPT = "hygiene.sh"

# Packer expands {{ .Path }} and {{ .Vars }}; the step's environment comes from the env file
# uploaded before it, so no recipe value ever passes through Packer's Go template engine.
_RUN_WITH_ENV = 'sh -c \'set -a; . %s; set +a; exec "$0" "$@"\' {{ .Path }}'
_RUN_AS_ROOT = "chmod +x {{ .Path }}; {{ .Vars }} sudo -E " + _RUN_WITH_ENV
_RUN_AS_USER = "chmod +x {{ .Path }}; {{ .Vars }} " + _RUN_WITH_ENV
_HYGIENE_RUN = "chmod +x {{ .Path }}; {{ .Vars }} sudo -E bash '{{ .Path }}'"
# Bakery's own helper scripts (unpacking an upload, running a playbook), as root or as the user.
_HELPER_AS_ROOT = "chmod +x {{ .Path }}; sudo sh '{{ .Path }}'"
_HELPER_AS_USER = "chmod +x {{ .Path }}; sh '{{ .Path }}'"
# What a reboot step runs: the connection drops, Packer expects it, then waits to reconnect.
_REBOOT_COMMAND = "sudo systemctl reboot || sudo shutdown -r now"
USER_DATA = "user-data"
# Settings Packer 1.6 does not know (its amazon builder predates them), and what bakery does.
ONLY_17 = (
    "metadata_options",
    "imds_support",
    "deprecate_at",
    "temporary_key_pair_type",
    "ami_org_arns",
    "ami_ou_arns",
)

VARIABLES: tuple[tuple[str, str, str | None], ...] = (
    ("source_ami", "AMI id the build starts from, resolved by bakery", None),
    ("build_id", "bakery build id", None),
    ("build_timestamp", "build time, YYYYMMDDhhmmss UTC, part of the AMI name", None),
    ("build_date", "build time, ISO 8601 UTC", None),
    ("input_hash", "sha256 of everything the image is built from", None),
    ("git_commit", "git commit of the recipes", "unknown"),
    ("source_ref", "the source as the recipe names it, KIND:REFERENCE", None),
    ("manifest_path", "where the manifest post-processor writes", "packer-manifest.json"),
)
LOCAL_VARIABLES = (("endpoint_url", "EC2 endpoint of the local emulator", None),)


@dataclass(frozen=True)
class Rendered:
    """The files of one recipe's build folder, and the digest of what they came from."""

    recipe: str
    files: Mapping[str, bytes]  # build-folder-relative name → bytes; includes the template
    digest: str

    @property
    def template_name(self) -> str:
        return f"{self.recipe}.pkr.hcl"

    @property
    def template_sha256(self) -> str:
        return sha256_hex(self.files[self.template_name])


def ami_name_prefix(recipe: Recipe) -> str:
    """Return the AMI name up to what a build fills in: NAME-VERSION (`+` is not allowed in AMI
    names), or the text of the recipe's `ami_name` before its first build-time reference."""
    if recipe.ami_name is not None:
        return recipe.ami_name.split("((", 1)[0]
    return name_prefix(recipe.name, recipe.version)


def name_prefix(name: str, version: str) -> str:
    """The AMI name of recipe `name` at `version`, without its timestamp (a build record's)."""
    return f"{name}-{version.replace('+', '_')}"


def ami_name(recipe: Recipe, moment: datetime, build_id: str) -> str:
    """Return the AMI name of a build: NAME-VERSION-YYYYMMDDhhmmss, or the recipe's template."""
    if recipe.ami_name is None:
        return f"{ami_name_prefix(recipe)}-{moment.strftime('%Y%m%d%H%M%S')}"
    return resolve_build_references(recipe.ami_name, build_facts(moment, build_id), moment)


def build_facts(
    moment: datetime, build_id: str, source_ami: str = "", source_ami_name: str = ""
) -> dict[str, str]:
    """The build-time facts references name, by built-in name."""
    return {
        "build_id": build_id,
        "timestamp": moment.strftime("%Y%m%d%H%M%S"),
        "build_date": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source_ami_id": source_ami,
        "source_ami_name": source_ami_name,
    }


def computed_variables(recipe: Recipe) -> dict[str, str]:
    """The template variables bakery fills in from a recipe's build-time references: the AMI
    name of an `ami_name` template, and each user tag whose value refers to the build. Packer
    gets the finished text; it never sees a reference."""
    found: dict[str, str] = {}
    if recipe.ami_name is not None:
        found["ami_name"] = recipe.ami_name
    for index, (_, value) in enumerate(sorted(recipe.tags.items())):
        if "((" in value:
            found[f"tag_value_{index}"] = value
    return found


def fill_computed(recipe: Recipe, facts: Mapping[str, str], moment: datetime) -> dict[str, str]:
    """The values of `computed_variables` for one build."""
    return {
        name: resolve_build_references(text, facts, moment)
        for name, text in computed_variables(recipe).items()
    }


def filled_tags(recipe: Recipe, facts: Mapping[str, str], moment: datetime) -> dict[str, str]:
    """The recipe's tags with their build-time references filled in."""
    return {
        key: resolve_build_references(value, facts, moment) if "((" in value else value
        for key, value in recipe.tags.items()
    }


def uses_source_name(recipe: Recipe) -> bool:
    """Whether a build must look up its source AMI's name (a tag names ((source_ami_name)))."""
    return any("((source_ami_name))" in text for text in computed_variables(recipe).values())


@cache
def template_texts() -> dict[str, str]:
    """Return the text of every template file, by name."""
    return {
        name: (TEMPLATES_DIR / name).read_text(encoding="utf-8")
        for name in (TEMPLATE, HYGIENE_SCRIPT)
    }


def render(
    recipe: Recipe,
    project_tags: Mapping[str, str],
    dialect: TemplateDialect,
    read: Callable[[str], bytes],
    *,
    local: bool = False,
) -> Rendered:
    """Render `recipe` into its build folder's files; `read` returns a project file's bytes.

    `local` renders for the emulator: no communicator, the EC2 endpoint from `var.endpoint_url`,
    and every remote step replaced by a local check of what it would run.
    """
    texts = template_texts()
    used = {path: read(path) for path in recipe.used_files}
    files: dict[str, bytes] = {HYGIENE_SCRIPT: texts[HYGIENE_SCRIPT].encode()}
    if recipe.build.user_data_file is not None:
        files[USER_DATA] = used[recipe.build.user_data_file]
    elif recipe.build.user_data is not None:
        files[USER_DATA] = recipe.build.user_data.encode()
    steps = _steps(recipe, used, files, local)
    references = {name: hcl.Reference(f"var.{name}") for name in BUILD_TAG_VARIABLES.values()}
    computed = computed_variables(recipe)
    user_tags: dict[str, str | hcl.Reference] = {
        key: hcl.Reference(f"var.tag_value_{index}") if f"tag_value_{index}" in computed else value
        for index, (key, value) in enumerate(sorted(recipe.tags.items()))
    }
    context: dict[str, Any] = {
        "dialect": dialect,
        "local": local,
        "recipe_file": recipe.file,
        "name": recipe.name,
        "description": recipe.description or f"{recipe.name} {recipe.version} ({recipe.layer})",
        "region": recipe.region,
        "ami_name_prefix": ami_name_prefix(recipe),
        "build": recipe.build,
        "settings": source_settings(recipe, dialect, local),
        "volumes": [volume_attributes(volume) for volume in recipe.build.volumes],
        "ami_volumes": [volume_attributes(volume) for volume in recipe.build.ami_volumes],
        "distribute": recipe.distribute,
        "variables": [
            {"name": name, "description": text, "default": default}
            for name, text, default in (
                *VARIABLES,
                *(LOCAL_VARIABLES if local else ()),
                *_computed_declarations(computed),
            )
        ],
        "ami_name_variable": "ami_name" in computed,
        "tags": image_tags(
            recipe,
            project_tags,
            references,
            hcl.Reference("local.ami_name"),
            local=local,
            user_tags=user_tags,
        ),
        "run_tags": {
            **recipe.build.run_tags,
            **run_tags(recipe, hcl.Reference("var.build_id")),
        },
        "steps": steps,
        "manifest_data": {
            "build_id": hcl.Reference("var.build_id"),
            "recipe": recipe.name,
            "version": recipe.version,
            "input_hash": hcl.Reference("var.input_hash"),
        },
    }
    text = hcl.align(_environment().get_template(TEMPLATE).render(context)).rstrip("\n") + "\n"
    files[f"{recipe.name}.pkr.hcl"] = text.encode()
    digest = content_digest(recipe, project_tags, used, texts)
    return Rendered(recipe.name, dict(sorted(files.items())), digest)


@dataclass(frozen=True)
class SourceSettings:
    """What the `amazon-ebs` source gets besides the settings the template writes itself."""

    attributes: list[tuple[str, object]]
    blocks: list[tuple[str, list[tuple[str, object]]]]
    left_out: list[str]  # settings of the recipe this dialect cannot write


def source_settings(recipe: Recipe, dialect: TemplateDialect, local: bool) -> SourceSettings:
    """The `amazon-ebs` attributes and blocks of the recipe's build settings, for a dialect.

    Packer 1.6's amazon builder predates metadata_options, imds_support, deprecate_at,
    temporary_key_pair_type and organization sharing: bakery sets the image ones through the
    EC2 API after the build (bakery.bake.build_one); the build instance's (metadata options, key
    pair type) nothing can set for it, and the template says they are left out. Local mode has
    no connection, no spot market and its own network, so it leaves those settings out too.
    """
    build, dist = recipe.build, recipe.distribute
    new = dialect == "1.7+"
    attributes: list[tuple[str, object]] = []
    blocks: list[tuple[str, list[tuple[str, object]]]] = []
    left_out: list[str] = []

    def add(key: str, value: object) -> None:
        if value is not None and value != () and value != {}:
            attributes.append((key, value))

    options = build.metadata_options
    if new:
        metadata = [
            ("http_endpoint", options.http_endpoint),
            ("http_tokens", options.http_tokens),
            ("http_put_response_hop_limit", options.http_put_response_hop_limit),
            ("instance_metadata_tags", options.instance_metadata_tags),
        ]
        blocks.append(("metadata_options", [(k, v) for k, v in metadata if v is not None]))
        if build.imds_support != "none":
            add("imds_support", build.imds_support)
        if build.deprecate_after_days:
            hours = f"{build.deprecate_after_days * 24}h"
            add("deprecate_at", hcl.Call("timeadd", (hcl.Reference("var.build_date"), hours)))
        add("ami_org_arns", dist.organizations)
        add("ami_ou_arns", dist.organizational_units)
    else:
        # Settings of the build instance 1.6 cannot make, which no API call can make for it:
        # left out, and the template says so.
        if options.given:
            left_out.append("metadata_options")
        if build.temporary_key_pair_type is not None and not local:
            left_out.append("temporary_key_pair_type")
    if not local:
        add("ssh_interface", build.ssh_interface)
        add("ssh_pty", build.ssh_pty)
        add("ssh_timeout", None if build.ssh_timeout is None else go_duration(build.ssh_timeout))
        if new:
            add("temporary_key_pair_type", build.temporary_key_pair_type)
        add("temporary_security_group_source_cidrs", build.temporary_security_group_source_cidrs)
        add("vpc_id", build.vpc_id)
        if build.subnet_filter is not None:
            flt = build.subnet_filter
            items = [
                ("filters", dict(flt.filters)),
                ("most_free", flt.most_free),
                ("random", flt.random),
            ]
            blocks.append(("subnet_filter", [(k, v) for k, v in items if v is not None]))
        if build.security_group_filter is not None:
            blocks.append(
                ("security_group_filter", [("filters", dict(build.security_group_filter.filters))])
            )
        add("spot_instance_types", build.spot_instance_types)
        add("spot_price", build.spot_price)
        add("custom_endpoint_ec2", build.custom_endpoint_ec2)
    if build.user_data is not None or build.user_data_file is not None:
        add("user_data_file", hcl.RootPath(USER_DATA))
    add("ebs_optimized", build.ebs_optimized)
    add("ena_support", build.ena_support)
    add("sriov_support", build.sriov_support)
    add("ami_product_codes", build.ami_product_codes)
    for key, value in build.extra.items():
        add(key, dict(value) if isinstance(value, Mapping) else value)
    if build.aws_polling is not None:
        polling = [
            ("delay_seconds", build.aws_polling.delay_seconds),
            ("max_attempts", build.aws_polling.max_attempts),
        ]
        blocks.append(("aws_polling", [(k, v) for k, v in polling if v is not None]))
    return SourceSettings(attributes, blocks, left_out)


def volume_attributes(volume: Volume) -> list[tuple[str, object]]:
    """A volume's block attributes, in the order Packer documents them, unset ones left out;
    a gp3 volume gets its baseline IOPS and throughput unless set (Packer requires both)."""
    gp3 = volume.volume_type == "gp3"
    iops = volume.iops if volume.iops is not None or not gp3 else 3000
    throughput = volume.throughput if volume.throughput is not None or not gp3 else 125
    items = [
        ("device_name", volume.device_name),
        ("no_device", volume.no_device),
        ("snapshot_id", volume.snapshot_id),
        ("volume_size", volume.volume_size),
        ("volume_type", volume.volume_type),
        ("iops", iops),
        ("throughput", throughput),
        ("encrypted", volume.encrypted),
        ("kms_key_id", volume.kms_key_id),
        ("delete_on_termination", volume.delete_on_termination),
    ]
    return [(key, value) for key, value in items if value is not None]


def _computed_declarations(computed: Mapping[str, str]) -> list[tuple[str, str, str | None]]:
    found: list[tuple[str, str, str | None]] = []
    for name in computed:
        what = "the AMI name" if name == "ami_name" else "a tag value"
        found.append((name, f"{what}, made by bakery from the recipe's references", None))
    return found


def _steps(
    recipe: Recipe, used: Mapping[str, bytes], files: dict[str, bytes], local: bool
) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for index, step in enumerate(recipe.provision, start=1):
        made = _step_provisioners(recipe, index, step, used, files, local)
        steps.extend(_with_options(made, step.options, local))
    if recipe.hygiene.skip:
        return steps
    index = len(recipe.provision) + 1
    if local:
        steps.append(
            _local_step(
                index,
                "hygiene",
                HYGIENE_SCRIPT,
                [
                    *_syntax_checks(HYGIENE_SCRIPT, shell="bash"),
                    _echo("would run hygiene.sh as root"),
                ],
            )
        )
        return steps
    steps.append(
        _step(
            index,
            "hygiene",
            HYGIENE_SCRIPT,
            "shell",
            {
                "script": hcl.RootPath(HYGIENE_SCRIPT),
                "environment_vars": [f"BAKERY_BUILD_USER={recipe.build.ssh_username}"],
                "execute_command": _HYGIENE_RUN,
            },
        )
    )
    return steps


def go_duration(text: str) -> str:
    """A recipe duration (`1d12h`, `90m`) as Packer reads it: Go's units stop at hours."""
    seconds = parse_duration(text)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    parts.append(f"{seconds}s" if seconds or not (hours or minutes) else "")
    return "".join(parts)


def _with_options(
    made: list[dict[str, Any]], options: StepOptions, local: bool
) -> list[dict[str, Any]]:
    """Give a step's provisioners its options: pause_before on the first, the rest on each
    shell provisioner (the one that runs the step). Local checks take none: they are quick and
    never lose a connection."""
    if local or not made:
        return made
    first = made[0]["attributes"]
    if options.pause_before is not None:
        first["pause_before"] = go_duration(options.pause_before)
    for item in made:
        attributes = item["attributes"]
        if options.timeout is not None:
            attributes["timeout"] = go_duration(options.timeout)
        if options.max_retries is not None:
            attributes["max_retries"] = options.max_retries
        if item["type"] == "shell" and item["kind"] not in ("environment", "upload"):
            if options.expect_disconnect is not None:
                attributes["expect_disconnect"] = options.expect_disconnect
            if options.start_retry_timeout is not None:
                attributes["start_retry_timeout"] = go_duration(options.start_retry_timeout)
    return made


def _step_provisioners(
    recipe: Recipe,
    index: int,
    step: Step,
    used: Mapping[str, bytes],
    files: dict[str, bytes],
    local: bool,
) -> list[dict[str, Any]]:
    if isinstance(step, FileStep):
        return _upload_step(recipe, index, step, used, files, local)
    if isinstance(step, DownloadStep):
        return [_download_step(index, step, local)]
    if isinstance(step, RebootStep):
        return _reboot_step(index, step, local)
    if isinstance(step, AnsibleStep):
        return _ansible_step(recipe, index, step, used, files, local)
    env_name = f"steps/{index:02d}.env"
    remote_env = f"/tmp/bakery-step-{index:02d}.env"
    args = step.args if isinstance(step, ScriptStep) else ()
    files[env_name] = _env_file(recipe, index, {**recipe.environment, **step.env}, args)
    if isinstance(step, ScriptStep):
        name, kind, origin = upload_name(index, step.path), "script", step.path
        files[name] = used[step.path]
        shell: str | None = "bash"
    else:
        name, kind, origin = f"steps/{index:02d}-inline.sh", "inline", "inline"
        files[name] = _inline_script(recipe, index, step)
        shell = _shell_of(step.shebang)
    root = step.run_as == "root"
    command = (_RUN_AS_ROOT if root else _RUN_AS_USER) % remote_env
    who = "as root" if root else "as the build user"
    if local:
        checks = [
            *(_syntax_checks(name, shell=shell) if shell else []),
            f"sh -n {env_name}",
            _echo(f"would run {name} {who} with {env_name}"),
        ]
        reboots = None
        if step.options.expect_disconnect is None:
            reboots = reboot_line(files[name].decode("utf-8", "replace").splitlines())
        if reboots is not None:
            # On AWS the dropped connection fails the step: local mode fails it the same way.
            checks.append(
                _echo(
                    f"step {index} reboots the instance ({reboots}) without "
                    "expect_disconnect: on AWS Packer fails it; use a reboot step or set "
                    "expect_disconnect"
                )
                + " >&2; exit 1"
            )
        return [_local_step(index, kind, origin, checks)]
    return [
        _step(
            index,
            "environment",
            env_name,
            "file",
            {"source": hcl.RootPath(env_name), "destination": remote_env},
        ),
        _step(
            index,
            kind,
            origin,
            "shell",
            {"script": hcl.RootPath(name), "execute_command": command},
        ),
    ]


def _shell_of(shebang: str | None) -> str | None:
    """The shell that can check an inline step's syntax: sh or bash; None for another one."""
    if shebang is None:
        return "sh"
    program = PurePosixPath(shebang.split(" ", 1)[0]).name
    if program == "env":
        parts = shebang.split()
        program = parts[1] if len(parts) > 1 else ""
    return program if program in ("sh", "bash", "dash") else None


def _upload_step(
    recipe: Recipe,
    index: int,
    step: FileStep,
    used: Mapping[str, bytes],
    files: dict[str, bytes],
    local: bool,
) -> list[dict[str, Any]]:
    if step.folder:
        target, entries = step.destination, [(item.name, item) for item in step.files]
    elif step.destination.endswith("/"):
        target, entries = step.destination, [(step.files[0].name, step.files[0])]
    else:
        # The text as written, not normalised: `a//b` stays what the user typed.
        parent, name = posixpath.split(step.destination)
        target, entries = parent or ".", [(name, step.files[0])]
    archive = f"steps/{index:02d}-upload.tar.gz"
    files[archive] = tree_archive([(name, used[item.path], item.mode) for name, item in entries])
    count = _files(len(entries))
    return _archive_step(
        recipe,
        index,
        "file",
        step.source,
        archive,
        target,
        step.run_as,
        files,
        local,
        count,
        step.destination,
    )


def _archive_step(
    recipe: Recipe,
    index: int,
    kind: str,
    origin: str,
    archive: str,
    target: str,
    run_as: str,
    files: dict[str, bytes],
    local: bool,
    count: str,
    shown_destination: str,
    then: Sequence[str] = (),
) -> list[dict[str, Any]]:
    remote = f"/tmp/bakery-step-{index:02d}.tar.gz"
    helper = f"steps/{index:02d}-{kind}.sh"
    files[helper] = _unpack_script(recipe, index, remote, target, then)
    who = "as root" if run_as == "root" else "as the build user"
    if local:
        return [
            _local_step(
                index,
                kind,
                origin,
                [
                    f"tar -tzf {archive} >/dev/null",
                    f"sh -n {helper}",
                    _echo(f"would upload {count} to {shown_destination} {who}"),
                ],
            )
        ]
    command = _HELPER_AS_ROOT if run_as == "root" else _HELPER_AS_USER
    return [
        _step(
            index,
            "upload",
            archive,
            "file",
            {"source": hcl.RootPath(archive), "destination": remote},
        ),
        _step(
            index,
            kind,
            origin,
            "shell",
            {"script": hcl.RootPath(helper), "execute_command": command},
        ),
    ]


def _files(count: int) -> str:
    return f"{count} file{'' if count == 1 else 's'}"


def tree_archive(entries: Sequence[tuple[str, bytes, int]]) -> bytes:
    """A gzip'd tar of (name, bytes, mode) entries, the same bytes for the same entries: sorted,
    no times, owner root, no folder entries (so unpacking never changes an existing folder)."""
    import gzip
    import io
    import tarfile

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, mode in sorted(entries):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def _unpack_script(
    recipe: Recipe, index: int, remote: str, target: str, then: Sequence[str]
) -> bytes:
    word = shell_word(recipe, "destination", target)
    lines = [
        "#!/bin/sh",
        f"# Step {index} of recipe {recipe.name}, written by bakery: unpack an upload, modes kept.",
        "set -e",
        f"target={word}",
        'mkdir -p -- "$target"',
        f'tar -xzpf {remote} -C "$target"',
        f"rm -f {remote}",
        *then,
    ]
    return ("\n".join(lines) + "\n").encode()


def _download_step(index: int, step: DownloadStep, local: bool) -> dict[str, Any]:
    kept = f"artifacts/{step.destination}"
    if local:
        parent = str(PurePosixPath(kept).parent)
        note = f"bakery local: the emulator has no instance; {step.source} is not downloaded"
        return _local_step(
            index,
            "download",
            step.source,
            [
                f"mkdir -p {shlex.quote(parent)}",
                f"echo {shlex.quote(note)} > {shlex.quote(kept)}",
                _echo(f"would download {step.source} to {kept}"),
            ],
        )
    return _step(
        index,
        "download",
        step.source,
        "file",
        {"source": step.source, "destination": hcl.RootPath(kept), "direction": "download"},
    )


def _reboot_step(index: int, step: RebootStep, local: bool) -> list[dict[str, Any]]:
    if local:
        return [_local_step(index, "reboot", "reboot", [_echo("would reboot and wait")])]
    return [
        _step(
            index,
            "reboot",
            "reboot",
            "shell",
            {"inline": [_REBOOT_COMMAND], "expect_disconnect": True, "skip_clean": True},
        ),
        _step(
            index,
            "reconnect",
            "reboot",
            "shell",
            {
                "inline": ["echo 'bakery: the instance is back after its reboot'"],
                "pause_before": go_duration(step.pause),
                "start_retry_timeout": go_duration(step.timeout),
            },
        ),
    ]


def _ansible_step(
    recipe: Recipe,
    index: int,
    step: AnsibleStep,
    used: Mapping[str, bytes],
    files: dict[str, bytes],
    local: bool,
) -> list[dict[str, Any]]:
    import json

    remote_folder = f"/tmp/bakery-ansible-{index:02d}"
    variables = json.dumps(dict(step.extra_vars), sort_keys=True, indent=2).encode() + b"\n"
    environment = _env_file(recipe, index, {**recipe.environment, **step.env})
    # The extra vars and the environment travel inside the archive, next to the playbook.
    entries = [(item.name, used[item.path], item.mode) for item in step.files]
    entries += [
        (".bakery-extra-vars.json", variables, 0o644),
        (".bakery-step.env", environment, 0o600),
    ]
    archive = f"steps/{index:02d}-upload.tar.gz"
    files[archive] = tree_archive(entries)
    then = [
        'cd "$target"',
        "set -a; . ./.bakery-step.env; set +a",
        "if ! command -v ansible-playbook >/dev/null 2>&1; then",
        "  echo 'bakery: ansible-playbook is not installed on the instance; install it in an "
        "earlier step' >&2",
        "  exit 127",
        "fi",
    ]
    if step.galaxy_file is not None:
        then.append(f"ansible-galaxy install -r {shell_word(recipe, 'galaxy', step.galaxy_file)}")
    playbook = shell_word(recipe, "playbook", step.playbook)
    then += [
        f"ansible-playbook -i localhost, -c local -e @.bakery-extra-vars.json {playbook}",
        'cd / && rm -rf -- "$target"',
    ]
    entries_count = f"{_files(len(step.files))} of {step.folder}"
    return _archive_step(
        recipe,
        index,
        "ansible",
        step.playbook,
        archive,
        remote_folder,
        step.run_as,
        files,
        local,
        entries_count,
        remote_folder,
        then,
    )


def _syntax_checks(name: str, shell: str) -> list[str]:
    # Local mode has no instance: check what would run (shell-local runs in the build folder).
    return [
        f"{shell} -n {name}",
        f"if command -v shellcheck >/dev/null 2>&1; then shellcheck -S error {name}; fi",
    ]


def _echo(text: str) -> str:
    return f"echo {shlex.quote('bakery local: ' + text)}"


def _local_step(index: int, kind: str, origin: str, commands: list[str]) -> dict[str, Any]:
    return _step(index, kind, origin, "shell-local", {"inline": commands})


def _step(
    index: int, kind: str, origin: str, type_: str, attributes: dict[str, Any]
) -> dict[str, Any]:
    return {"index": index, "kind": kind, "origin": origin, "type": type_, "attributes": attributes}


def _env_file(
    recipe: Recipe, index: int, env: Mapping[str, str], args: Sequence[str] = ()
) -> bytes:
    lines = [f"# Environment of step {index} of recipe {recipe.name}, written by bakery."]
    lines += [f"{key}={shell_word(recipe, key, value)}" for key, value in sorted(env.items())]
    if args:
        # The script's arguments: `set --` in the sourced file sets them for `exec "$0" "$@"`.
        lines.append("set -- " + " ".join(shell_word(recipe, "args", arg) for arg in args))
    return ("\n".join(lines) + "\n").encode()


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def shell_word(recipe: Recipe, key: str, value: str) -> str:
    """Return `value` as one single-quoted shell word on one line: `'it'\\''s'`.

    The one quoting of environment values: always quoted (shlex.quote leaves some words bare),
    each `'` written as `'\\''`, nothing else special inside, so every line of an env file is
    `KEY='value'`. Validation refuses control characters in values (E1016); one that gets here
    anyway is refused, as a line break would split the line and no shell holds NUL.
    """
    if not _ENV_NAME.fullmatch(key):
        raise BakeryError(f"recipe {recipe.name}: environment name {shown(key)} is not a name")
    if has_control(value.replace("\t", "")):
        raise BakeryError(
            f"recipe {recipe.name}: the value of environment variable {key} holds a control "
            "character; an env file holds each value on one line"
        )
    return "'" + value.replace("'", "'\\''") + "'"


def _inline_script(recipe: Recipe, index: int, step: InlineStep) -> bytes:
    # Packer runs inline commands with `/bin/sh -e` unless inline_shebang says otherwise; this
    # file keeps that meaning: the shebang line, or sh with `set -e`.
    comment = f"# Inline step {index} of recipe {recipe.name}, written by bakery."
    if step.shebang is not None:
        header = [f"#!{step.shebang}", comment]
    else:
        header = ["#!/bin/sh", comment, "set -e"]
    return ("\n".join([*header, *step.commands]) + "\n").encode()


@cache
def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    env.filters["hcl"] = _hcl_filter
    env.finalize = _finalize
    return env


class _Escaped(str):
    """Text the `hcl` filter wrote: the only text `_finalize` lets into a template unchecked."""


def _hcl_filter(value: object, indent: int = 0) -> _Escaped:
    return _Escaped(hcl.literal(value, indent))


# Bakery's own words (attribute names, step kinds) may be written bare; nothing else may.
_BARE = re.compile(r"[A-Za-z0-9_.-]*")


def _finalize(value: object) -> str:
    # Every `{{ }}` of the template ends here: a value that did not go through the one escaper
    # (bakery.render.hcl) and is not a plain word or number is refused, comments included.
    if isinstance(value, _Escaped):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and _BARE.fullmatch(value):
        return value
    raise ValueError(f"a value reached the template without the hcl filter: {value!r}")


# Every folder `write` makes holds this file; `write` deletes no folder without it.
MARKER = ".bakery-render"
_MARKER_TEXT = (
    "Written by bakery: `bakery render` and `bakery bake` replace this folder whole.\n"
    "Keep nothing else here; bakery refuses to replace a folder without this file.\n"
)


def output_folder(root: Path, out: str) -> Path:
    """Return the folder `--out` names (relative to the project root, default `build`).

    A folder inside the project must not lead out of it through a symbolic link (a committed
    `build -> /elsewhere`); one outside is used only because the user typed it, and there too
    bakery replaces only the build folders it made.
    """
    if has_control(out):
        raise UsageError(f"--out {shown(out)} holds a control character")
    folder = Path(os.path.normpath(root / out))
    try:
        resolved = folder.resolve()
    except (OSError, RuntimeError) as error:  # a loop of symbolic links
        raise BakeryError(f"--out {out}: cannot resolve: {error}") from None
    if folder.is_relative_to(root) and not resolved.is_relative_to(root):
        raise BakeryError(
            f"{out} leads out of the project through a symbolic link; bakery writes outside "
            "the project only to a folder you name with --out"
        )
    return folder


def check_folder(folder: Path, keep: Sequence[Path] = (), label: str | None = None) -> None:
    """Refuse to write `folder` unless it is missing, empty, or a build folder bakery made.

    Nothing is followed: a symbolic link at `folder` is refused, not replaced. `keep` names what
    the folder must not hold (the recipes, bakery.yaml), however it is marked. `label` is the
    folder as messages name it (as the user wrote it).
    """
    shown_folder = shown(label or str(folder))
    try:
        mode = os.lstat(folder).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and stat.S_ISLNK(mode):
        raise BakeryError(
            f"{shown_folder} is a symbolic link; bakery writes build folders only where it made "
            "them; remove the link or choose another --out"
        )
    if mode is not None and not stat.S_ISDIR(mode):
        raise BakeryError(
            f"{shown_folder} exists and is not a folder; move it away or choose another --out"
        )
    resolved = folder.resolve()
    for path in keep:
        if path.resolve().is_relative_to(resolved):
            raise BakeryError(
                f"{shown_folder} would hold {shown(str(path))}; bakery replaces a build folder "
                "whole; choose another --out"
            )
    if mode is not None and not _marked(folder) and any(folder.iterdir()):
        raise BakeryError(
            f"{shown_folder} holds files bakery did not write (it has no {MARKER}); "
            "bakery replaces only build folders it made; move them away or choose another --out"
        )


def _marked(folder: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(folder / MARKER).st_mode)
    except FileNotFoundError:
        return False


def write(
    rendered: Rendered, folder: Path, keep: Sequence[Path] = (), label: str | None = None
) -> Path:
    """Write a build folder, replacing one an earlier render left there (see check_folder)."""
    import shutil

    check_folder(folder, keep, label)
    if folder.exists():
        # rmtree unlinks symbolic links inside the folder, never following them (and refuses
        # a folder that became a link since the check).
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / MARKER).write_text(_MARKER_TEXT, encoding="utf-8")
    for name, data in rendered.files.items():
        parts = PurePosixPath(name).parts
        if PurePosixPath(name).is_absolute() or ".." in parts or has_control(name):
            raise ValueError(f"not a build folder name: {name!r}")
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if name.endswith(".sh"):
            path.chmod(0o755)
    return folder / rendered.template_name
