"""A build's provisioners mapped onto recipe steps, each with the sources it runs for.

`shell` becomes `script` (one step per script) or `inline` (or `reboot` when its commands only
reboot and it expects the disconnect), `file` becomes `file` or `download`, `ansible-local` and
`ansible` become `ansible`; `only`/`except` say which sources a step runs for. Everything else is
a finding: the step stays in the recipe as a comment where it stood.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bakery.config.schema import ARTIFACT_PATTERN, ENV_NAME_PATTERN
from bakery.convert.builder import duration
from bakery.convert.expressions import Context, Result, failed
from bakery.convert.findings import Finding
from bakery.convert.paths import ProjectPaths
from bakery.convert.template import Block, Body, Build, Entry, Interpolation, Items, Text, Value

_REBOOT = re.compile(
    r"\s*(sudo\s+(-[A-Za-z]+\s+)*)?((/usr)?/s?bin/)?"
    r"(reboot|shutdown\s+(-r|--reboot)(\s+(now|\+?0))?|systemctl\s+reboot|init\s+6)"
    r"(\s+(-f|--force|now))*\s*(\|\|\s*true)?\s*;?\s*"
)
# Words of an execute_command that only say how to run the script: anything else is custom.
_RUNNER_WORDS = {
    "chmod",
    "+x",
    "sudo",
    "-E",
    "-S",
    "-H",
    "-n",
    "-i",
    "env",
    "sh",
    "bash",
    "/bin/sh",
    "/bin/bash",
    "/usr/bin/env",
    "-c",
    "-e",
    "-x",
    "-ex",
    "-eux",
    "-eu",
    "-xe",
    "exec",
    "echo",
    "packer",
    "|",
    "{{.Vars}}",
    "&&",
    ";",
}
_PATH = "{{.Path}}"
_COMMON = ("only", "except", "pause_before", "max_retries", "timeout")
_SHELL_OPTIONS = ("expect_disconnect", "start_retry_timeout")


@dataclass(frozen=True)
class MappedStep:
    """One recipe step (None: the provisioner is not mapped), the source names it runs for, and
    the findings to leave as comments above it."""

    step: Mapping[str, Any] | None
    applies: tuple[str, ...]
    findings: tuple[Finding, ...] = ()


class _Provisioners:
    def __init__(
        self, build: Build, names: tuple[str, ...], ctx: Context, paths: ProjectPaths
    ) -> None:
        self.build, self.names, self.ctx, self.paths = build, names, ctx, paths
        self.consumed: set[tuple[int, str]] = set()
        self.steps: list[MappedStep] = []

    # -- shared ----------------------------------------------------------------------------

    def note(
        self,
        out: list[Finding],
        block: Block,
        index: int,
        entry: Entry | Block | Body,
        setting: str,
        message: str,
        changed: bool = False,
    ) -> None:
        out.append(
            Finding(
                entry.where,
                f'provisioner {index + 1} "{block.labels[0]}": {setting}'
                if setting
                else f'provisioner {index + 1} "{block.labels[0]}"',
                message,
                "changed" if changed else "not mapped",
                anchor="provision",
            )
        )

    def applies(self, block: Block, index: int, out: list[Finding]) -> tuple[str, ...]:
        """The sources a provisioner runs for, from its only/except."""
        chosen = list(self.names)
        for key in ("only", "except"):
            entry = block.body.entry(key)
            if entry is None:
                continue
            result = (
                self.ctx.text(entry.value, (), None)
                if isinstance(entry.value, Text)
                else (self.ctx.strings(entry.value, ()))
            )
            values = [result.value] if isinstance(result.value, str) else result.value
            if not result.ok or not isinstance(values, list):
                self.note(out, block, index, entry, key, f"not a list of sources: {result.problem}")
                continue
            named: set[str] = set()
            for value in values:
                name = self.source_named(str(value))
                if name is None:
                    self.note(
                        out,
                        block,
                        index,
                        entry,
                        key,
                        f"{value} is not a source of this build",
                        changed=False,
                    )
                else:
                    named.add(name)
            chosen = [n for n in chosen if (n in named) == (key == "only")]
        return tuple(chosen)

    def source_named(self, text: str) -> str | None:
        for use in self.build.sources:
            name = use.rename or use.name
            if text in (name, f"{use.builder}.{name}", f"source.{use.builder}.{name}"):
                return name
        return None

    def options(
        self, block: Block, index: int, shell: bool, out: list[Finding], step: dict[str, Any]
    ) -> None:
        """pause_before, timeout, max_retries (and for shell steps expect_disconnect,
        start_retry_timeout) as step options."""
        for key in ("pause_before", "timeout", *(_SHELL_OPTIONS if shell else ())):
            entry = block.body.entry(key)
            if entry is None or (index, key) in self.consumed:
                continue
            if key == "expect_disconnect":
                result = self.ctx.boolean(entry.value, ())
            else:
                result = self.ctx.text(entry.value, (), None)
                if result.ok:
                    result = duration(str(result.value))
                    if result.ok and result.value == "0s" and key != "pause_before":
                        continue
            self.put(out, block, index, entry, key, result, step, key)
        entry = block.body.entry("max_retries")
        if entry is not None:
            result = self.ctx.integer(entry.value, ())
            if result.ok and isinstance(result.value, int) and not 0 <= result.value <= 20:
                result = failed(f"bakery retries a step at most 20 times, not {result.value}")
            self.put(out, block, index, entry, "max_retries", result, step, "max_retries")
        if not shell:
            for key in _SHELL_OPTIONS:
                entry = block.body.entry(key)
                if entry is not None and (index, key) not in self.consumed:
                    self.note(
                        out,
                        block,
                        index,
                        entry,
                        key,
                        "bakery takes it on script and inline steps only",
                    )

    def put(
        self,
        out: list[Finding],
        block: Block,
        index: int,
        entry: Entry,
        setting: str,
        result: Result,
        target: dict[str, Any],
        key: str,
    ) -> bool:
        for note in result.notes:
            self.note(out, block, index, entry, setting, note, changed=True)
        if not result.ok:
            self.note(out, block, index, entry, setting, str(result.problem), result.omitted)
            return False
        target[key] = result.value
        return True

    def leftovers(
        self, block: Block, index: int, known: tuple[str, ...], out: list[Finding]
    ) -> None:
        for entry in block.body.entries:
            if (
                entry.key not in known
                and entry.key not in _COMMON
                and (index, entry.key) not in self.consumed
            ):
                if entry.key in _SHELL_OPTIONS:
                    continue
                why = {
                    "override": "per-builder overrides of a provisioner have no equivalent",
                    "name": "a step has no name",
                }.get(entry.key, "no equivalent")
                self.note(out, block, index, entry, entry.key, why)

    # -- the provisioners ------------------------------------------------------------------

    def run(self) -> list[MappedStep]:
        for index, block in enumerate(self.build.provisioners):
            out: list[Finding] = []
            applies = self.applies(block, index, out)
            kind = block.labels[0]
            handler = {
                "shell": self.shell,
                "file": self.file,
                "ansible-local": self.ansible,
                "ansible": self.ansible,
            }.get(kind)
            if handler is None:
                why = {
                    "shell-local": "runs on the bake host; bakery never runs template code there",
                    "breakpoint": "bakery builds unattended",
                    "windows-restart": "bakery builds Linux images",
                    "powershell": "bakery builds Linux images",
                    "windows-shell": "bakery builds Linux images",
                }.get(kind, f"a {kind} provisioner has no equivalent")
                self.note(out, block, index, block, "", why)
                self.steps.append(MappedStep(None, applies, tuple(out)))
                continue
            if not applies:
                self.note(out, block, index, block, "only", "it runs for no source of this build")
                self.steps.append(MappedStep(None, applies, tuple(out)))
                continue
            made = handler(block, index, out)
            if not made:
                self.steps.append(MappedStep(None, applies, tuple(out)))
            for position, step in enumerate(made):
                self.steps.append(MappedStep(step, applies, tuple(out) if position == 0 else ()))
        return self.steps

    def shell(self, block: Block, index: int, out: list[Finding]) -> list[dict[str, Any]]:
        body = block.body
        env = self.environment(block, index, out)
        run_as, args = self.execute(block, index, out)
        known = (
            "inline",
            "script",
            "scripts",
            "environment_vars",
            "env",
            "execute_command",
            "inline_shebang",
            "pause_after",
        )
        self.leftovers(block, index, known, out)
        inline = body.entry("inline")
        scripts: list[Entry] = [e for e in body.entries if e.key in ("script", "scripts")]
        steps: list[dict[str, Any]] = []
        if inline is not None:
            step = self.inline(block, index, inline, env, run_as, out)
            if step is not None:
                steps.append(step)
        for entry in scripts:
            values = entry.value.items if isinstance(entry.value, Items) else (entry.value,)
            for value in values:
                result = self.ctx.text(value, ("provision", 0, "script"))
                if result.ok:
                    result = self.paths.recipe_path(str(result.value))
                step = {}
                if not self.put(out, block, index, entry, entry.key, result, step, "script"):
                    continue
                if args:
                    step["args"] = list(args)
                if env:
                    step["env"] = dict(env)
                if run_as != "root":
                    step["run_as"] = run_as
                self.options(block, index, True, out, step)
                steps.append(step)
        if inline is None and not scripts:
            self.note(out, block, index, block, "", "a shell provisioner with no inline or script")
        pause_after = body.entry("pause_after")
        if pause_after is not None and not (steps and "reboot" in steps[-1]):
            self.note(
                out,
                block,
                index,
                pause_after,
                "pause_after",
                "no equivalent outside a reboot: add a pause_before to the next step",
            )
        return steps

    def inline(
        self,
        block: Block,
        index: int,
        entry: Entry,
        env: dict[str, str],
        run_as: str,
        out: list[Finding],
    ) -> dict[str, Any] | None:
        items = entry.value.items if isinstance(entry.value, Items) else (entry.value,)
        lines: list[str] = []
        for number, item in enumerate(items):
            result = self.ctx.text(item, ("provision", 0, "inline", number), "shell")
            for note in result.notes:
                self.note(out, block, index, entry, "inline", note, changed=True)
            if not result.ok:
                self.note(
                    out,
                    block,
                    index,
                    entry,
                    "inline",
                    f"command {number + 1}: {result.problem}; the step is not converted",
                )
                return None
            for name, value in result.env.items():
                if env.get(name, value) != value:
                    self.note(
                        out,
                        block,
                        index,
                        entry,
                        "inline",
                        f"{name} is set by environment_vars too; the step is not converted",
                    )
                    return None
                env[name] = value
            lines.extend(str(result.value).split("\n"))
        commands = [line for line in lines if line.strip()]
        if not commands:
            self.note(out, block, index, entry, "inline", "no commands")
            return None
        disconnect = block.body.entry("expect_disconnect")
        expects = disconnect is not None and self.ctx.boolean(disconnect.value, ()).value is True
        if expects and all(_REBOOT.fullmatch(line) for line in commands):
            return self.reboot(block, index, out)
        step: dict[str, Any] = {"inline": commands}
        shebang = block.body.entry("inline_shebang")
        if shebang is not None:
            result = self.ctx.text(shebang.value, (), None)
            if result.ok and not re.fullmatch(
                r"/[A-Za-z0-9_./-]{1,200}( [A-Za-z0-9_.=/-]{1,100}){0,4}", str(result.value)
            ):
                result = failed(
                    f"bakery takes an interpreter path and options, not {result.value!r}"
                )
            if (result.ok and result.value != "/bin/sh -e") or not result.ok:
                self.put(out, block, index, shebang, "inline_shebang", result, step, "shebang")
        if env:
            step["env"] = dict(env)
        if run_as != "user":
            step["run_as"] = run_as
        self.options(block, index, True, out, step)
        return step

    def reboot(self, block: Block, index: int, out: list[Finding]) -> dict[str, Any]:
        """A reboot step: its pause and timeout from pause_after and the next provisioner's
        pause_before and start_retry_timeout (the wait before, and the time for, reconnecting)."""
        reboot: dict[str, Any] = {}
        after = block.body.entry("pause_after")
        if after is not None:
            self.put(
                out, block, index, after, "pause_after", self.duration_of(after), reboot, "pause"
            )
        following = self.build.provisioners[index + 1 : index + 2]
        if following and self.same_sources(block, following[0]):
            nxt = following[0]
            for key, target in (("pause_before", "pause"), ("start_retry_timeout", "timeout")):
                entry = nxt.body.entry(key)
                if entry is None or target in reboot:
                    continue
                if self.put(
                    out, nxt, index + 1, entry, key, self.duration_of(entry), reboot, target
                ):
                    self.consumed.add((index + 1, key))
                    self.note(
                        out,
                        nxt,
                        index + 1,
                        entry,
                        key,
                        f"moved to the reboot before it (reboot.{target})",
                        changed=True,
                    )
        self.consumed.add((index, "start_retry_timeout"))
        step: dict[str, Any] = {"reboot": reboot}
        own = block.body.entry("start_retry_timeout")
        if own is not None:
            self.note(
                out,
                block,
                index,
                own,
                "start_retry_timeout",
                "a reboot step reconnects "
                "by reboot.timeout; the wait to connect before it has no equivalent",
            )
        self.consumed.add((index, "expect_disconnect"))
        self.options(block, index, False, out, step)
        return step

    def duration_of(self, entry: Entry) -> Result:
        result = self.ctx.text(entry.value, (), None)
        return duration(str(result.value)) if result.ok else result

    def same_sources(self, one: Block, other: Block) -> bool:
        return all(one.body.get(k) == other.body.get(k) for k in ("only", "except")) or (
            self.applies(one, 0, []) == self.applies(other, 0, [])
        )

    def environment(self, block: Block, index: int, out: list[Finding]) -> dict[str, str]:
        env: dict[str, str] = {}
        entry = block.body.entry("environment_vars")
        if entry is not None:
            value, _ = self.ctx.follow(entry.value)
            items = value.items if isinstance(value, Items) else ()
            if not isinstance(value, Items):
                self.note(out, block, index, entry, "environment_vars", "not a list of K=V")
            for item in items:
                key, rest = _split_assignment(item)
                if key is None or rest is None:
                    self.note(
                        out,
                        block,
                        index,
                        entry,
                        "environment_vars",
                        "an entry that is not NAME=VALUE with a literal NAME",
                    )
                    continue
                self.env_value(block, index, entry, key, rest, env, out)
        mapping = block.body.entry("env")
        if mapping is not None:
            value, _ = self.ctx.follow(mapping.value)
            if isinstance(value, Body):
                for pair in value.entries:
                    self.env_value(block, index, mapping, pair.key, pair.value, env, out)
            else:
                self.note(out, block, index, mapping, "env", "not a map")
        return env

    def env_value(
        self,
        block: Block,
        index: int,
        entry: Entry,
        key: str,
        value: Value,
        env: dict[str, str],
        out: list[Finding],
    ) -> None:
        if not re.fullmatch(ENV_NAME_PATTERN, key):
            self.note(out, block, index, entry, f"{entry.key}: {key}", "not an environment name")
            return
        result = self.ctx.text(value, ("provision", 0, "env", key))
        self.put(out, block, index, entry, f"{entry.key}: {key}", result, env, key)

    def execute(self, block: Block, index: int, out: list[Finding]) -> tuple[str, list[str]]:
        """run_as and the script's arguments from an execute_command; anything else it does is
        listed as not mapped."""
        entry = block.body.entry("execute_command")
        if entry is None:
            return "user", []
        raw = entry.value
        text = raw.literal if isinstance(raw, Text) else None
        if isinstance(raw, Text) and text is None:
            pieces = []
            for part in raw.parts:
                if isinstance(part, str):
                    pieces.append(part)
                elif part.dialect == "go" and part.code.replace(" ", "") in (".Vars", ".Path"):
                    pieces.append("{{" + part.code.replace(" ", "") + "}}")
                else:
                    pieces = []
                    break
            text = "".join(pieces) or None
        if text is None:
            self.note(out, block, index, entry, "execute_command", "not text bakery can read")
            return "user", []
        words = _words(text)
        run_as = "root" if "sudo" in words else "user"
        last = max((i for i, word in enumerate(words) if word == _PATH), default=-1)
        args = [w for w in words[last + 1 :] if w not in _RUNNER_WORDS and w != _PATH]
        before = [w for w in words[: last + 1] if w not in _RUNNER_WORDS and w != _PATH]
        if last < 0 or before:
            self.note(
                out,
                block,
                index,
                entry,
                "execute_command",
                f"a custom execute_command is not mapped beyond run_as: {run_as}: {text}",
            )
            args = []
        return run_as, args

    def file(self, block: Block, index: int, out: list[Finding]) -> list[dict[str, Any]]:
        body = block.body
        self.leftovers(block, index, ("source", "sources", "destination", "direction"), out)
        direction_entry = body.entry("direction")
        direction = "upload"
        if direction_entry is not None:
            result = self.ctx.text(direction_entry.value, (), None)
            direction = str(result.value) if result.ok else "?"
            if direction not in ("upload", "download"):
                self.note(
                    out, block, index, direction_entry, "direction", "neither upload nor download"
                )
                return []
        destination = body.entry("destination")
        sources = [e for e in body.entries if e.key in ("source", "sources")]
        if destination is None or not sources:
            self.note(
                out,
                block,
                index,
                block,
                "",
                "a file provisioner needs source and "
                "destination (content and generated have no equivalent)",
            )
            return []
        kind = "download" if direction == "download" else "file"
        steps: list[dict[str, Any]] = []
        for entry in sources:
            values = entry.value.items if isinstance(entry.value, Items) else (entry.value,)
            for value in values:
                inner: dict[str, Any] = {}
                if kind == "file":
                    result = self.ctx.text(value, ("provision", 0, "file", "source"))
                    if result.ok:
                        result = self.paths.recipe_path(str(result.value))
                    ok = self.put(out, block, index, entry, entry.key, result, inner, "source")
                    target = self.ctx.text(
                        destination.value, ("provision", 0, "file", "destination")
                    )
                    ok = (
                        self.put(
                            out,
                            block,
                            index,
                            destination,
                            "destination",
                            target,
                            inner,
                            "destination",
                        )
                        and ok
                    )
                else:
                    result = self.ctx.text(value, ("provision", 0, "download", "source"))
                    ok = self.put(out, block, index, entry, entry.key, result, inner, "source")
                    target = self.ctx.text(destination.value, (), None)
                    if target.ok:
                        target = _artifact(str(target.value), str(inner.get("source", "")))
                    ok = (
                        self.put(
                            out,
                            block,
                            index,
                            destination,
                            "destination",
                            target,
                            inner,
                            "destination",
                        )
                        and ok
                    )
                if not ok:
                    continue
                step: dict[str, Any] = {kind: inner}
                self.options(block, index, False, out, step)
                steps.append(step)
        return steps

    def ansible(self, block: Block, index: int, out: list[Finding]) -> list[dict[str, Any]]:
        body = block.body
        local = block.labels[0] == "ansible-local"
        if not local:
            self.note(
                out,
                block,
                index,
                block,
                "",
                "Packer's ansible provisioner runs "
                "ansible-playbook on the bake host; bakery runs it on the instance "
                "(connection local), as ansible-local does",
                changed=True,
            )
        known = (
            "playbook_file",
            "playbook_files",
            "playbook_dir",
            "galaxy_file",
            "extra_arguments",
            "role_paths",
        )
        self.leftovers(block, index, known, out)
        common: dict[str, Any] = {}
        folder = body.entry("playbook_dir")
        if folder is not None:
            result = self.ctx.text(folder.value, ("provision", 0, "ansible", "folder"))
            if result.ok:
                result = self.paths.recipe_path(str(result.value).rstrip("/") + "/")
            self.put(out, block, index, folder, "playbook_dir", result, common, "folder")
        galaxy = body.entry("galaxy_file")
        if galaxy is not None:
            result = self.ctx.text(galaxy.value, ("provision", 0, "ansible", "galaxy_file"))
            if result.ok:
                result = self.paths.recipe_path(str(result.value))
            self.put(out, block, index, galaxy, "galaxy_file", result, common, "galaxy_file")
        roles = body.entry("role_paths")
        if roles is not None:
            self.note(
                out,
                block,
                index,
                roles,
                "role_paths",
                "bakery uploads the playbook's "
                "folder whole: keep roles in it (roles/ beside the playbook)",
            )
        extra_vars, become = self.extra_arguments(block, index, out)
        if extra_vars:
            common["extra_vars"] = extra_vars
        playbooks = [e for e in body.entries if e.key in ("playbook_file", "playbook_files")]
        if not playbooks:
            self.note(out, block, index, block, "", "no playbook_file")
            return []
        if folder is None:
            self.note(
                out,
                block,
                index,
                playbooks[0],
                "playbook_dir",
                "bakery uploads the "
                "playbook's folder whole (ansible-local uploaded the playbook alone)",
                changed=True,
            )
        steps: list[dict[str, Any]] = []
        for entry in playbooks:
            values = entry.value.items if isinstance(entry.value, Items) else (entry.value,)
            for value in values:
                inner: dict[str, Any] = {}
                result = self.ctx.text(value, ("provision", 0, "ansible", "playbook"))
                if result.ok:
                    result = self.paths.recipe_path(str(result.value))
                if not self.put(out, block, index, entry, entry.key, result, inner, "playbook"):
                    continue
                step: dict[str, Any] = {"ansible": {**inner, **common}}
                if not become:
                    step["run_as"] = "user"
                self.options(block, index, False, out, step)
                steps.append(step)
        return steps

    def extra_arguments(
        self, block: Block, index: int, out: list[Finding]
    ) -> tuple[dict[str, Any], bool]:
        """extra_vars from `-e k=v`, `--extra-vars "k=v k2=v2"` or a JSON object; whether the
        arguments ask to become root."""
        entry = block.body.entry("extra_arguments")
        if entry is None:
            return {}, False
        value, _ = self.ctx.follow(entry.value)
        if not isinstance(value, Items):
            self.note(out, block, index, entry, "extra_arguments", "not a list")
            return {}, False
        found: dict[str, Any] = {}
        become = False
        items = list(value.items)
        position = 0
        while position < len(items):
            item = items[position]
            literal = item.literal if isinstance(item, Text) else None
            position += 1
            vars_text: Value | None = None
            if literal in ("-e", "--extra-vars") and position < len(items):
                vars_text = items[position]
                position += 1
            elif literal is not None and literal.startswith("--extra-vars="):
                assert isinstance(item, Text)
                vars_text = Text((literal.split("=", 1)[1],), item.where)
            elif literal in ("-b", "--become"):
                become = True
                continue
            if vars_text is None:
                shown = literal if literal is not None else "an expression"
                following = items[position] if position < len(items) else None
                if (
                    literal is not None
                    and literal.startswith("-")
                    and isinstance(following, Text)
                    and following.literal is not None
                    and not following.literal.startswith("-")
                ):
                    shown = f"{literal} {following.literal}"
                    position += 1
                self.note(
                    out,
                    block,
                    index,
                    entry,
                    "extra_arguments",
                    f"{shown}: only extra vars (-e, --extra-vars) and --become are mapped",
                )
                continue
            self.extra_vars(block, index, entry, vars_text, found, out)
        return found, become

    def extra_vars(
        self,
        block: Block,
        index: int,
        entry: Entry,
        value: Value,
        found: dict[str, Any],
        out: list[Finding],
    ) -> None:
        if (
            isinstance(value, Text)
            and len(value.parts) == 1
            and not isinstance(value.parts[0], str)
        ):
            # the extra vars are a variable's value (`{{user `ansible_extra_vars`}}`): read it
            whole = self.ctx.text(value, (), None)
            if whole.ok and "((" not in str(whole.value):
                self.note(
                    out,
                    block,
                    index,
                    entry,
                    "extra_arguments",
                    "extra vars given as a variable are read from its value, as NAME=VALUE pairs",
                    changed=True,
                )
                value = Text((str(whole.value),), value.where)
        literal = value.literal if isinstance(value, Text) else None
        if literal is not None and literal.strip().startswith(("{", "@")):
            if literal.strip().startswith("@"):
                self.note(
                    out,
                    block,
                    index,
                    entry,
                    "extra_arguments",
                    f"{literal.strip()}: a "
                    "file of extra vars is not read; write them in extra_vars",
                )
                return
            try:
                data = json.loads(literal)
            except ValueError:
                data = None
            if not isinstance(data, dict) or not all(
                isinstance(v, str | int | bool) for v in data.values()
            ):
                self.note(
                    out,
                    block,
                    index,
                    entry,
                    "extra_arguments",
                    "extra vars that are not a flat JSON object of text, numbers and booleans",
                )
                return
            for key, item in data.items():
                if re.fullmatch(ENV_NAME_PATTERN, key):
                    found[key] = item
                else:
                    self.note(
                        out,
                        block,
                        index,
                        entry,
                        "extra_arguments",
                        f"{key!r} is not a variable name",
                    )
            return
        if not isinstance(value, Text):
            self.note(
                out, block, index, entry, "extra_arguments", "extra vars that are an expression"
            )
            return
        for word in _split_words(value):
            key, rest = _split_assignment(word)
            if key is None or rest is None or not re.fullmatch(ENV_NAME_PATTERN, key):
                self.note(
                    out,
                    block,
                    index,
                    entry,
                    "extra_arguments",
                    "extra vars that are not NAME=VALUE",
                )
                continue
            result = self.ctx.text(rest, ("provision", 0, "ansible", "extra_vars", key))
            self.put(out, block, index, entry, f"extra_arguments: {key}", result, found, key)


def map_provisioners(
    build: Build, names: tuple[str, ...], ctx: Context, paths: ProjectPaths
) -> list[MappedStep]:
    """Map a build's provisioners onto steps; `names` are the build's source names, in order."""
    return _Provisioners(build, names, ctx, paths).run()


def _split_assignment(value: Value) -> tuple[str | None, Text | None]:
    """`NAME=VALUE` as the literal NAME and the rest (which may hold interpolations)."""
    if not isinstance(value, Text) or not value.parts or not isinstance(value.parts[0], str):
        return None, None
    first = value.parts[0]
    if "=" not in first:
        return None, None
    key, rest = first.split("=", 1)
    parts = ((rest,) if rest else ()) + value.parts[1:]
    return key.strip(), Text(parts or ("",), value.where)


def _split_words(value: Text) -> list[Text]:
    """Split text at the spaces of its literal parts (an interpolation stays in its word);
    quotes around a word are dropped."""
    words: list[list[str | Interpolation]] = [[]]
    for part in value.parts:
        if isinstance(part, str):
            pieces = re.split(r"\s+", part)
            for number, piece in enumerate(pieces):
                if number > 0:
                    words.append([])
                if piece:
                    words[-1].append(piece.strip("'\""))
        else:
            words[-1].append(part)
    return [Text(tuple(word), value.where) for word in words if word]


def _words(command: str) -> list[str]:
    """The words of an execute_command, `{{ .Path }}` and `{{ .Vars }}` as single words, the
    text of `sh -c '...'` split too."""
    text = re.sub(r"\{\{\s*\.Path\s*\}\}", " {{.Path}} ", command)
    text = re.sub(r"\{\{\s*\.Vars\s*\}\}", " {{.Vars}} ", text)
    text = text.replace(";", " ; ").replace("&&", " && ").replace("|", " | ")
    try:
        words = shlex.split(text)
    except ValueError:
        return text.split()
    out: list[str] = []
    for word in words:
        out.extend(_words(word) if " " in word.strip() else [word.strip()])
    return [word for word in out if word]


def _artifact(local: str, remote: str) -> Result:
    """Where bakery keeps a downloaded file: a relative name under the build's artifacts/."""
    wanted = local.rstrip("/")
    if local.endswith("/") or not wanted:
        wanted = posixpath.join(wanted, posixpath.basename(remote.rstrip("/")))
    wanted = posixpath.normpath(wanted)
    if wanted.startswith(("/", "..")):  # a place on the bake host: keep the file's name
        wanted = posixpath.basename(wanted)
    if not re.fullmatch(ARTIFACT_PATTERN, wanted):
        wanted = posixpath.basename(wanted)
    if not re.fullmatch(ARTIFACT_PATTERN, wanted):
        return failed(f"{local!r} cannot name an artifact (letters, digits, . _ - and /)")
    return Result(
        wanted,
        notes=(f"bakery keeps it as .bakery/builds/<build id>/artifacts/{wanted}, not {local}",),
    )
