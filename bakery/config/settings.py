"""Rules of build settings and steps that the schema cannot say: settings that exclude each
other, `build.extra` against the attributes of the amazon plugin, Session Manager's instance
profile, an ansible folder's layout, and steps that reboot without saying so."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from bakery.config import rule_codes as rc
from bakery.config.amazon_ebs import AMAZON_EBS
from bakery.config.marks import MarkedDocument
from bakery.config.paths import shown
from bakery.config.recipe import (
    AnsibleStep,
    InlineStep,
    Recipe,
    ScriptStep,
    Volume,
)
from bakery.config.schema import BUILD_SCHEMA, OWNED_ATTRIBUTES
from bakery.errors import Problem

# Volume types that take IOPS and throughput settings (EC2 CreateVolume).
_IOPS_TYPES = frozenset({"gp3", "io1", "io2"})
_THROUGHPUT_TYPES = frozenset({"gp3"})
# A command that reboots the machine, at the start of a command (after `sudo`, `;`, `&&`, ...).
_REBOOT = re.compile(
    r"(?:\A|[;&|(`]|\bthen\b|\bdo\b|\bsudo\b|\bexec\b)\s*(?:sudo\s+(?:-\S+\s+)*)?"
    r"(?:/s?bin/|/usr/s?bin/)?"
    r"(?:reboot\b|shutdown\s+(?:-\S*\s+)*-\S*r|systemctl\s+(?:--\S+\s+)*(?:reboot|kexec)\b"
    r"|init\s+6\b|telinit\s+6\b)"
)
_SHELL_STEPS = (ScriptStep, InlineStep, AnsibleStep)


def settings_problems(recipe: Recipe, doc: MarkedDocument, root: Path) -> Iterator[Problem]:
    """Yield what is wrong with a recipe's build settings and steps."""
    yield from _build_problems(recipe, doc)
    yield from _step_problems(recipe, doc, root)


def _conflict(doc: MarkedDocument, key: str, message: str) -> Problem:
    where = ("build", key) if key in doc.data.get("build", {}) else ("build",)
    return doc.problem(rc.SETTINGS_CONFLICT, where, message)


def _build_problems(recipe: Recipe, doc: MarkedDocument) -> Iterator[Problem]:
    build = recipe.build
    given = doc.data.get("build", {})
    if build.user_data is not None and build.user_data_file is not None:
        yield _conflict(doc, "user_data", "user_data and user_data_file exclude each other")
    if build.spot_instance_types and "instance_type" in given:
        yield _conflict(
            doc,
            "spot_instance_types",
            "spot_instance_types replaces instance_type; drop instance_type",
        )
    if (build.spot_instance_types or build.spot_price) and (
        build.ena_support or build.sriov_support
    ):
        yield _conflict(
            doc,
            "spot_price" if build.spot_price else "spot_instance_types",
            "spot instances cannot change ena_support or sriov_support (Packer refuses it); "
            "use a source image that has them",
        )
    if build.subnet_id and build.subnet_filter:
        yield _conflict(doc, "subnet_filter", "subnet_id and subnet_filter exclude each other")
    if build.security_group_ids and build.security_group_filter:
        yield _conflict(
            doc,
            "security_group_filter",
            "security_group_ids and security_group_filter exclude each other",
        )
    if build.iops is not None and build.volume_type not in _IOPS_TYPES:
        yield _conflict(doc, "iops", f"volume_type {build.volume_type} takes no iops setting")
    if build.throughput is not None and build.volume_type not in _THROUGHPUT_TYPES:
        yield _conflict(
            doc, "throughput", f"volume_type {build.volume_type} takes no throughput setting"
        )
    for key in ("volumes", "ami_volumes"):
        yield from _volume_problems(doc, key, getattr(build, key))
    if build.ssh_interface == "session_manager" and not build.iam_instance_profile:
        yield doc.problem(
            rc.SESSION_MANAGER_PROFILE,
            ("build", "ssh_interface") if "ssh_interface" in given else ("build",),
            "ssh_interface session_manager needs build.iam_instance_profile: a profile that "
            "allows Systems Manager (e.g. with AmazonSSMManagedInstanceCore)",
        )
    yield from _extra_problems(recipe, doc)


def _volume_problems(
    doc: MarkedDocument, key: str, volumes: tuple[Volume, ...]
) -> Iterator[Problem]:
    seen: set[str] = set()
    for index, volume in enumerate(volumes):
        where = ("build", key, index)
        if volume.device_name in seen:
            yield doc.problem(
                rc.SETTINGS_CONFLICT, where, f"device {volume.device_name} is listed twice"
            )
        seen.add(volume.device_name)
        kind = volume.volume_type or "gp2"
        if volume.iops is not None and kind not in _IOPS_TYPES:
            yield doc.problem(rc.SETTINGS_CONFLICT, where, f"volume_type {kind} takes no iops")
        if volume.throughput is not None and kind not in _THROUGHPUT_TYPES:
            yield doc.problem(
                rc.SETTINGS_CONFLICT, where, f"volume_type {kind} takes no throughput"
            )
        if volume.no_device and (volume.volume_size or volume.snapshot_id):
            yield doc.problem(
                rc.SETTINGS_CONFLICT, where, "no_device: true leaves the device out; drop its size"
            )


def _extra_problems(recipe: Recipe, doc: MarkedDocument) -> Iterator[Problem]:
    owned = set(OWNED_ATTRIBUTES) | set(BUILD_SCHEMA["properties"])
    for key, value in recipe.build.extra.items():
        where = ("build", "extra", key)
        kind = AMAZON_EBS.get(key)
        if key in owned or (kind is not None and key.startswith(("packer_", "ssh_", "winrm_"))):
            yield doc.problem(
                rc.EXTRA_OWNED,
                where,
                f"extra.{key} is set by bakery or has its own key; use build settings instead",
            )
            continue
        if kind is None or kind == "block":
            if kind:
                what = "is a block of amazon-ebs, which extra cannot write"
            else:
                import difflib

                close = difflib.get_close_matches(key, AMAZON_EBS, n=1)
                hint = f"; did you mean {close[0]}?" if close else ""
                what = f"is not an attribute of amazon-ebs{hint}"
            yield doc.problem(rc.EXTRA_UNKNOWN, where, f"extra.{key} {what}")
            continue
        if not _fits(kind, value):
            yield doc.problem(rc.EXTRA_UNKNOWN, where, f"extra.{key} takes {_type_name(kind)}")


def _fits(kind: str, value: object) -> bool:
    if kind == "cty.Bool":
        return isinstance(value, bool)
    if kind == "cty.Number":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "cty.String":
        return isinstance(value, str)
    if kind == "cty.List(cty.String)":
        return isinstance(value, tuple) and all(isinstance(item, str) for item in value)
    if kind == "cty.List(cty.Number)":
        return isinstance(value, tuple) and all(
            isinstance(item, int) and not isinstance(item, bool) for item in value
        )
    if kind == "cty.Map(cty.String)":
        return not isinstance(value, str | int | tuple)
    return False


def _type_name(kind: str) -> str:
    return {
        "cty.String": "a string",
        "cty.Number": "a number",
        "cty.Bool": "true or false",
        "cty.List(cty.String)": "a list of strings",
        "cty.List(cty.Number)": "a list of numbers",
        "cty.Map(cty.String)": "a mapping of strings",
    }.get(kind, kind)


def _step_problems(recipe: Recipe, doc: MarkedDocument, root: Path) -> Iterator[Problem]:
    for index, step in enumerate(recipe.provision):
        where = ("provision", index)
        options = step.options
        shell = isinstance(step, _SHELL_STEPS)
        if not shell and (options.expect_disconnect is not None or options.start_retry_timeout):
            yield doc.problem(
                rc.SETTINGS_CONFLICT,
                where,
                "expect_disconnect and start_retry_timeout are for script, inline and ansible "
                "steps (a reboot step sets them itself)",
            )
        if isinstance(step, AnsibleStep):
            names = {item.name for item in step.files}
            for key, inside in (("playbook", step.playbook), ("galaxy_file", step.galaxy_file)):
                if inside is not None and inside not in names:
                    yield doc.problem(
                        rc.ANSIBLE_LAYOUT,
                        (*where, "ansible", key),
                        f"{inside} is not inside the uploaded folder {step.folder}/; name a "
                        "folder that holds it",
                    )
        if shell and options.expect_disconnect is None:
            line = _reboot_line(step, root)
            if line is not None:
                yield doc.problem(
                    rc.UNDECLARED_REBOOT,
                    where,
                    f"this step reboots the instance ({line}) without expect_disconnect: true; "
                    "Packer fails it on AWS: use a reboot step, or set expect_disconnect (false "
                    "if it does not reboot)",
                )


def _reboot_line(step: object, root: Path) -> str | None:
    if isinstance(step, InlineStep):
        return reboot_line(step.commands)
    if isinstance(step, ScriptStep):
        try:
            text = (root / step.path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        return reboot_line(text.splitlines())
    return None


def reboot_line(lines: Iterable[str]) -> str | None:
    """The first command of shell text that reboots the machine, shown short and escaped;
    None if none does. Comments are skipped; `echo reboot` is not a reboot."""
    for text in lines:
        code = text.split("#", 1)[0] if not text.lstrip().startswith("#!") else ""
        if _REBOOT.search(code):
            short = code.strip()
            return shown(short if len(short) <= 60 else short[:57] + "...")
    return None
