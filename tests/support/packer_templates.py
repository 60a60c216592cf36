"""Packer templates read for comparison: the ones teams bring (HCL2 through python-hcl2, or JSON)
with their variables filled in the simple ways tests need, and the ones bakery renders, as the
amazon-ebs settings and the sequence of step kinds they hold."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CONVERT_FIXTURES = REPO / "tests" / "fixtures" / "convert"
TIMESTAMP = "<timestamp>"


@dataclass(frozen=True)
class ConvertFixture:
    """A project in tests/fixtures/convert: its template, the var files a team passes to
    `packer build`, and the recipe bakery convert is asked to write."""

    folder: str
    template: str
    var_files: tuple[str, ...]
    recipe: str

    def copy_to(self, tmp_path: Path) -> Path:
        root = tmp_path / self.folder
        shutil.copytree(CONVERT_FIXTURES / self.folder, root)
        return root

    def convert_args(self) -> list[str]:
        args = ["convert", self.template]
        for var_file in self.var_files:
            args += ["--var-file", var_file]
        return [*args, "--out", f"recipes/{self.recipe}.yaml"]


FIXTURES = {
    "eks": ConvertFixture(
        "eks-al2023", "packer/eks-al2023.pkr.hcl", ("packer/vars/1.33.pkrvars.hcl",), "eks-node"
    ),
    "ecs": ConvertFixture("ecs-al2023", "packer/al2023.json", ("packer/release.json",), "ecs"),
    "capi": ConvertFixture(
        "capi-al2023",
        "packer/ami/packer.json",
        (
            "packer/config/kubernetes.json",
            "packer/config/containerd.json",
            "packer/config/ansible-args.json",
            "packer/ami/al2023.json",
        ),
        "capa-al2023",
    ),
}


@dataclass(frozen=True)
class Original:
    """A team's template: its sources' settings and provisioners, variables filled in."""

    sources: Mapping[str, Mapping[str, Any]]  # source name -> its settings
    provisioners: Sequence[tuple[str, Mapping[str, Any]]]  # (type, settings), in order


def _unquote(value: Any) -> Any:
    """A python-hcl2 value as plain data: strings without their quotes, `${...}` kept."""
    if isinstance(value, str):
        if len(value) >= 2 and value[0] == value[-1] == '"':
            return json.loads(value)
        return value
    if isinstance(value, list):
        return [_unquote(item) for item in value]
    if isinstance(value, dict):
        return {
            _unquote(key): _unquote(item)
            for key, item in value.items()
            if not str(key).startswith("__")
        }
    return value


def _hcl_values(path: Path) -> dict[str, Any]:
    import hcl2

    return {key: _unquote(value) for key, value in hcl2.loads(path.read_text()).items()}


def _fill(value: Any, variables: Mapping[str, Any]) -> Any:
    """Variables (`${var.x}`, `var.x`, ``{{user `x`}}``) replaced by their values, the build time
    (`${local.timestamp}`, `{{timestamp}}`) by TIMESTAMP."""
    if isinstance(value, list):
        return [_fill(item, variables) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, variables) for key, item in value.items()}
    if not isinstance(value, str):
        return value
    whole = re.fullmatch(r"\$\{var\.([A-Za-z0-9_-]+)\}|\{\{user `([A-Za-z0-9_-]+)`\}\}", value)
    if whole:
        return variables.get(whole.group(1) or whole.group(2))

    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name is None:
            return TIMESTAMP
        found = variables.get(name)
        return "" if found is None else str(found)

    pattern = (
        r"\$\{var\.([A-Za-z0-9_-]+)\}|\{\{user `([A-Za-z0-9_-]+)`\}\}"
        r"|\$\{local\.timestamp\}|\{\{timestamp\}\}"
    )
    return re.sub(pattern, one, value)


def read_original(root: Path, fixture: ConvertFixture) -> Original:
    """Read a fixture's template as Packer would fill it for `packer build` with its var files."""
    template = root / fixture.template
    variables: dict[str, Any] = {}
    if template.suffix == ".json":
        data = json.loads(template.read_text())
        variables.update(data.get("variables", {}))
        for var_file in fixture.var_files:
            variables.update(json.loads((root / var_file).read_text()))
        sources = {}
        for builder in data["builders"]:
            name = builder.get("name", builder["type"])
            if "{{" in name:  # bakery names a source by its literal name, else by its type
                name = builder["type"]
            settings = {k: v for k, v in builder.items() if k not in ("type", "name")}
            sources[name] = _fill(_fill(_blocks(settings), variables), variables)
        provisioners = [
            (item["type"], {k: v for k, v in item.items() if k != "type"})
            for item in data.get("provisioners", [])
        ]
        return Original(sources, provisioners)
    data = _hcl_values(template)
    for block in data.get("variable", []):
        for name, body in block.items():
            if "default" in body:
                variables[_unquote(name)] = body["default"]
    for auto in sorted(template.parent.glob("*.auto.pkrvars.hcl")):
        variables.update(_hcl_values(auto))
    for var_file in fixture.var_files:
        variables.update(_hcl_values(root / var_file))
    sources = {}
    for block in data.get("source", []):
        for builder, named in block.items():
            for name, body in named.items():
                settings = {k: v for k, v in body.items() if not k.startswith("__")}
                sources[_unquote(name)] = _fill(_blocks(settings), variables)
                assert _unquote(builder) == "amazon-ebs"
    provisioners = []
    for build in data.get("build", []):
        for item in build.get("provisioner", []):
            for kind, body in item.items():
                settings = {k: v for k, v in body.items() if not k.startswith("__")}
                provisioners.append((_unquote(kind), _fill(settings, variables)))
    return Original(sources, provisioners)


def _blocks(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A block given once (`metadata_options { }`, `[{...}]` in JSON) as its settings."""
    out = dict(settings)
    for key, value in settings.items():
        if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
            out[key] = value[0]
    return out


_REBOOT = re.compile(r"(sudo )?(reboot|systemctl reboot|shutdown -r now)")


def original_steps(original: Original, source: str) -> list[str]:
    """The kinds of the steps a source runs, in order: `inline`, `script:NAME`, `file`,
    `download`, `reboot`, `ansible` (provisioners bakery has no step for are left out:
    they are listed as not mapped)."""
    steps: list[str] = []
    for kind, settings in original.provisioners:
        only = [str(n).split(".")[-1] for n in settings.get("only", [])]
        skipped = [str(n).split(".")[-1] for n in settings.get("except", [])]
        if (only and source not in only) or source in skipped:
            continue
        if kind == "shell":
            inline = settings.get("inline")
            if inline is not None:
                rebooting = all(_REBOOT.fullmatch(line) for line in inline)
                steps.append(
                    "reboot" if rebooting and settings.get("expect_disconnect") else "inline"
                )
            scripts = settings.get("scripts") or (
                [settings["script"]] if "script" in settings else []
            )
            steps += [f"script:{Path(str(script)).name}" for script in scripts]
        elif kind == "file":
            steps.append("download" if settings.get("direction") == "download" else "file")
        elif kind in ("ansible-local", "ansible"):
            steps.append("ansible")
    return steps


@dataclass(frozen=True)
class Rendered:
    """A template bakery rendered: its one source's settings and its provisioners."""

    source: Mapping[str, Any]
    provisioners: Sequence[tuple[str, Mapping[str, Any]]]


def read_rendered(text: str) -> Rendered:
    data = _hcl_values_text(text)
    (source,) = [
        body for block in data["source"] for named in block.values() for body in named.values()
    ]
    settings = {}
    for key, value in source.items():
        if key.startswith("__"):
            continue
        if isinstance(value, list) and value and isinstance(value[0], dict):
            value = value[0] if len(value) == 1 else value
        settings[key] = value
    provisioners = [
        (kind, {k: v for k, v in body.items() if not k.startswith("__")})
        for build in data["build"]
        for item in build.get("provisioner", [])
        for kind, body in item.items()
    ]
    return Rendered(settings, provisioners)


def _hcl_values_text(text: str) -> dict[str, Any]:
    import hcl2

    return {key: _unquote(value) for key, value in hcl2.loads(text).items()}


def rendered_steps(rendered: Rendered) -> list[str]:
    """The kinds of the steps a rendered template runs, as `original_steps` names them; what
    bakery adds itself (env file uploads, the upload archives before their extraction, the
    reconnect after a reboot, the hygiene step) is left out."""
    steps: list[str] = []
    for kind, settings in rendered.provisioners:
        source = str(settings.get("source", ""))
        script = str(settings.get("script", ""))
        if kind == "file":
            if re.fullmatch(r"/tmp/bakery-step-[0-9]+\.env", str(settings.get("destination"))):
                continue
            if source.endswith("-upload.tar.gz"):
                continue
            steps.append("download" if settings.get("direction") == "download" else "file")
            continue
        assert kind == "shell", kind
        if script.endswith("/hygiene.sh"):
            continue
        if "inline" in settings:
            if settings.get("expect_disconnect"):
                steps.append("reboot")
            # else: the reconnect bakery adds after a reboot
            continue
        name = re.fullmatch(r".*/steps/[0-9]+-(.+)", script)
        assert name, script
        if name.group(1) == "inline.sh":
            steps.append("inline")
        elif name.group(1) == "file.sh":
            steps.append("file")
        elif name.group(1) == "ansible.sh":
            steps.append("ansible")
        else:
            steps.append(f"script:{name.group(1)}")
    return steps


def text_of(value: Any) -> Any:
    """A setting as text for comparing (`20` and `"20"`, `true` and `"true"` alike)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return [text_of(item) for item in value]
    if isinstance(value, dict):
        return {key: text_of(item) for key, item in value.items()}
    return str(value)


def convert_text(
    text: str,
    file: str = "packer/build.pkr.hcl",
    var_files: Sequence[tuple[str, str]] = (),
    *,
    region: str | None = "us-east-1",
    outside: Sequence[str] = (),
    name: str | None = None,
) -> Any:
    """Convert template text as `bakery convert` would in a project at /project with recipes in
    recipes/; `outside` names project paths that lead out of it through a symbolic link."""
    from bakery.convert.paths import ProjectPaths
    from bakery.convert.recipes import ConvertInput, convert
    from bakery.convert.var_files import VarFile

    folder = str(Path(file).parent.as_posix()) if "/" in file else "."
    paths = ProjectPaths("/project", "recipes", lambda path: path in outside)
    files = tuple(VarFile(n, t, auto=".auto." in n) for n, t in var_files)
    return convert(ConvertInput(text, file, folder, paths, files, name=name, region=region))


def recipe_of(conversion: Any, index: int = 0) -> dict[str, Any]:
    """A converted recipe's document as its YAML text reads (comments and all)."""
    import yaml

    document: dict[str, Any] = yaml.safe_load(conversion.recipes[index].text)
    return document


def messages(conversion: Any) -> list[str]:
    """Every finding as printed on stderr."""
    return [str(finding) for finding in conversion.findings]
