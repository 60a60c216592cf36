"""A Packer template and its var files made into recipe documents: the use case of `convert`.

Choices (docs/migrating.md says the same):

- **Variables -> parameters.** Every variable of text, number or boolean becomes a parameter
  with its type, default and description; a sensitive one does not (it is listed, and its value
  is never written). A list or map variable is written as its value where it is used.
- **Var files.** Packer loads `*.auto.pkrvars.hcl` by itself, so their values become the
  parameters' defaults; the values of the var files named with `--var-file` go into one var file
  next to the recipe, `NAME.vars.json` (JSON, so that bakery never takes it for a recipe, which
  are the `*.yaml` files of the recipes folder), to pass with `--var-file` or list in
  bakery.yaml's `var_files`.
- **Sources -> variants.** The amazon-ebs sources of one build block make one recipe, a family
  with `matrix: {variant: [SOURCE, ...]}` when there are several: what the sources share is the
  recipe's, what differs is an override per variant, and `only`/`except` become `when:`. Several
  build blocks (each its own list of provisioners) make separate recipes.
"""

from __future__ import annotations

import copy
import dataclasses
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bakery.config import params as config_params
from bakery.convert.builder import Mapped, map_source
from bakery.convert.expressions import (
    Context,
    Parameter,
    ParameterType,
    build_time_default,
    env_default,
)
from bakery.convert.findings import Finding
from bakery.convert.hcl_reader import read_hcl_template
from bakery.convert.json_reader import read_json_template
from bakery.convert.paths import ProjectPaths
from bakery.convert.provisioners import MappedStep, map_provisioners
from bakery.convert.template import (
    Body,
    Build,
    Expression,
    Items,
    Scalar,
    SourceUse,
    Template,
    Text,
    Value,
    Variable,
    Where,
    merged,
)
from bakery.convert.var_files import VarFile, read_var_file
from bakery.convert.yaml_text import recipe_text, var_file_text
from bakery.errors import BakeryError

_KEY_ORDER = (
    "name",
    "layer",
    "version",
    "description",
    "parameters",
    "matrix",
    "source",
    "ami_name",
    "build",
    "variants",
    "provision",
    "distribute",
    "tags",
)
_OVERRIDABLE = ("description", "source", "ami_name", "build", "distribute", "tags")
# The matrix key of a family made of sources (a Packer variable of that name is renamed).
_VARIANT = "variant"


@dataclass(frozen=True)
class ConvertInput:
    """What `convert` reads: the template's text and its var files' (as the command read them),
    where the project and the recipes are, and what bakery.yaml says."""

    template_text: str
    template_file: str  # as messages name it
    template_folder: str | None  # project-relative POSIX folder of the template; None: outside
    paths: ProjectPaths
    var_files: tuple[VarFile, ...] = ()
    name: str | None = None  # the recipe name wanted (--out's file name)
    region: str | None = None  # bakery.yaml's aws.region
    project_parameters: frozenset[str] = frozenset()
    # the other files of a template folder (*.pkr.hcl), as (file, text): one template with it
    more_templates: tuple[tuple[str, str], ...] = ()
    label: str | None = None  # how the recipe names its origin (the folder); default the file


@dataclass(frozen=True)
class ConvertedRecipe:
    """One recipe: its name, document, YAML text (comments included) and, when var files gave
    values, its var file's name (project-relative), document and text."""

    name: str
    file: str  # project-relative path the recipe is meant for
    document: Mapping[str, Any]
    text: str
    var_file: str | None = None
    var_values: Mapping[str, Any] = field(default_factory=dict)
    var_text: str | None = None


@dataclass(frozen=True)
class Conversion:
    """The recipes made, and every finding (each once), in template order."""

    recipes: tuple[ConvertedRecipe, ...]
    findings: tuple[Finding, ...]


def read_template(text: str, file: str) -> Template:
    """Read an HCL2 or JSON template (JSON when named *.json or when it starts with `{`)."""
    try:
        if file.endswith(".json") or text.lstrip().startswith("{"):
            return read_json_template(text, file)
        return read_hcl_template(text, file)
    except RecursionError:
        raise BakeryError(f"{file}: nested too deeply to read") from None


def convert(given: ConvertInput) -> Conversion:
    """Convert a template and its var files into recipe documents and findings."""
    return _Converter(given).run()


class _Converter:
    def __init__(self, given: ConvertInput) -> None:
        self.given = given
        self.template = merged(
            [
                read_template(given.template_text, given.template_file),
                *(read_template(text, file) for file, text in given.more_templates),
            ]
        )
        self.findings: list[Finding] = []
        self.defaults: dict[str, Value] = {}  # the default, or an auto-loaded var file's value
        self.values: dict[str, Value] = {}  # a variable's value: var files over the default
        self.file_values: dict[str, tuple[Value, Where]] = {}  # from --var-file files
        self.parameters: dict[str, Parameter] = {}
        self.declarations: dict[str, dict[str, Any]] = {}  # parameter -> its declaration
        self.param_where: dict[str, Where] = {}
        self.used: set[str] = set()  # the parameters the recipe being made refers to

    def note(
        self,
        where: Where,
        setting: str,
        message: str,
        changed: bool = False,
        anchor: str = "end",
        recipe: str | None = None,
    ) -> None:
        self.findings.append(
            Finding(where, setting, message, "changed" if changed else "not mapped", recipe, anchor)
        )

    def run(self) -> Conversion:
        self.read_values()
        self.plan_parameters()
        self.top_level()
        builds = [b for b in self.template.builds if b.sources or b.provisioners]
        if not builds:
            self.note(
                Where(self.given.template_file, 1),
                "build",
                "the template has no build with sources",
            )
        base = _recipe_name(
            self.given.name
            or (builds[0].name if len(builds) == 1 else None)
            or _stem(self.given.label or self.given.template_file)
        )
        recipes: list[ConvertedRecipe] = []
        taken: set[str] = set()
        for number, build in enumerate(builds, start=1):
            name = base
            if len(builds) > 1:
                suffix = _recipe_name(build.name) if build.name else str(number)
                name = _recipe_name(f"{base}-{suffix}")
            while name in taken:
                name = _recipe_name(f"{name}-{number}")
            taken.add(name)
            made = self.recipe(build, name)
            if made is not None:
                recipes.append(made)
        unique: dict[tuple[Where, str, str, str], Finding] = {}
        for finding in self.findings:
            unique.setdefault(
                (finding.where, finding.setting, finding.message, finding.kind), finding
            )
        return Conversion(tuple(recipes), tuple(sorted(unique.values(), key=_order)))

    # -- variables and their values ---------------------------------------------------------

    def read_values(self) -> None:
        declared = {variable.name for variable in self.template.variables}
        for variable in self.template.variables:
            if variable.default is not None and not _is_null(variable.default):
                self.defaults[variable.name] = variable.default
        # Packer loads *.auto.pkrvars.* itself (in name order): their values are defaults here
        files = sorted((f for f in self.given.var_files if f.auto), key=lambda f: f.file)
        files += [f for f in self.given.var_files if not f.auto]
        for var_file in files:
            for entry in read_var_file(var_file):
                if entry.key not in declared:
                    self.note(
                        entry.where,
                        entry.key,
                        "the template declares no such variable (Packer warns and ignores it)",
                        anchor="parameters",
                    )
                    continue
                if var_file.auto:
                    self.defaults[entry.key] = entry.value
                else:
                    self.file_values[entry.key] = (entry.value, entry.where)
        self.values.update(self.defaults)
        self.values.update({name: value for name, (value, _) in self.file_values.items()})

    def plan_parameters(self) -> None:
        taken = set(config_params.BUILTINS) | {_VARIANT}
        for variable in self.template.variables:
            self.plan_parameter(variable, taken)

    def plan_parameter(self, variable: Variable, taken: set[str]) -> None:
        name = variable.name
        setting = f'variable "{name}"'
        if variable.sensitive:
            self.parameters[name] = Parameter(name, None, reason="it is sensitive", sensitive=True)
            self.note(
                variable.where,
                setting,
                "a sensitive variable is not a parameter: a "
                "recipe and its var file hold no secrets; its value is not written (give "
                "the instance its secret at boot, from SSM Parameter Store or Secrets "
                "Manager)",
                anchor="parameters",
            )
            return
        alias = build_time_default(self.defaults[name]) if name in self.defaults else None
        if alias is not None and name not in self.file_values:
            self.parameters[name] = Parameter(
                name, None, reason="its default is the build's time or id", alias=alias
            )
            self.note(
                variable.where,
                setting,
                "its default is the build's time or id: where it "
                "is used, bakery's build-time reference stands instead",
                changed=True,
                anchor="parameters",
            )
            return
        kind = _parameter_type(variable, self.values.get(name))
        if kind is None:
            self.parameters[name] = Parameter(
                name,
                None,
                reason=f"var.{name} is a list or map; bakery parameters are text, "
                "numbers or booleans",
            )
            self.note(
                variable.where,
                setting,
                "a list or map variable is not a parameter: its value is written where it is used",
                changed=True,
                anchor="parameters",
            )
            return
        wanted = _parameter_name(name)
        param = wanted
        while param in taken:
            param = f"var_{param}" if not param.startswith("var_") else f"{param}_"
        taken.add(param)
        if param != name:
            self.note(
                variable.where,
                setting,
                f"the parameter is named {param} (parameter "
                "names are lowercase letters, digits and _, and not a built-in)",
                changed=True,
                anchor="parameters",
            )
        self.parameters[name] = Parameter(name, param, kind)
        self.param_where[param] = variable.where
        if param in self.given.project_parameters:
            self.note(
                variable.where,
                setting,
                f"bakery.yaml declares the parameter {param}: "
                "the recipe uses it and declares it not again",
                changed=True,
                anchor="parameters",
            )
            return
        declaration: dict[str, Any] = {}
        if kind != "string":
            declaration["type"] = kind
        value = self.defaults.get(name)
        env = env_default(value) if value is not None else None
        if env is not None:
            self.values.pop(name, None)
            self.defaults.pop(name, None)
            why = config_params.env_problem(env)
            if why is None:
                declaration["env"] = env
                self.note(
                    variable.where,
                    setting,
                    f"its default reads the environment variable {env}: the parameter's env: {env}",
                    changed=True,
                    anchor="parameters",
                )
            else:
                self.note(
                    variable.where,
                    setting,
                    f"its default reads {env}, which a recipe may not: {why}",
                    anchor="parameters",
                )
        elif value is not None:
            default = self.scalar(value, param, kind, variable.where, f"{setting}: default")
            if default is not None:
                declaration["default"] = default
        if variable.description:
            text = variable.description
            if len(text) > 255 or config_params.text_problem(text[:255]):
                self.note(
                    variable.where,
                    f"{setting}: description",
                    "longer than 255 characters or holding control characters; not kept",
                    anchor="parameters",
                )
            else:
                declaration["description"] = text
        validation = variable.body.blocks("validation")
        if validation:
            self.note(
                validation[0].where,
                f"{setting}: validation",
                "a validation block is "
                "not evaluated; a parameter can take allowed: or pattern: instead",
                anchor="parameters",
            )
        self.declarations[param] = declaration

    def scalar(
        self, value: Value, param: str, kind: ParameterType, where: Where, setting: str
    ) -> str | int | bool | None:
        """A parameter's value (a default, a var file's), checked as bakery checks it."""
        raw: Any
        if isinstance(value, Text) and value.literal is not None:
            raw = value.literal
        elif isinstance(value, Scalar) and value.value is not None:
            raw = value.value
            if isinstance(raw, float) and raw.is_integer():
                raw = int(raw)
            if kind == "string" and not isinstance(raw, str):
                raw = ("true" if raw else "false") if isinstance(raw, bool) else str(raw)
        else:
            self.note(
                where,
                setting,
                "not a value bakery can take (an expression, a list or a map)",
                anchor="parameters",
            )
            return None
        if raw == "":
            return None  # an empty value is Packer's "unset": the parameter has no default
        checked, why = config_params.Parameter(param, kind).check(raw)
        if why is not None:
            self.note(where, setting, f"{why}; not kept", anchor="parameters")
            return None
        return checked

    # -- what the template holds besides sources and builds ---------------------------------

    def top_level(self) -> None:
        for entry in self.template.others:
            key = entry.key
            if key == "packer":
                self.note(
                    entry.where,
                    "packer",
                    "bakery writes the packer block itself (required_version, required_plugins)",
                    changed=True,
                )
            elif key == "min_packer_version":
                self.note(
                    entry.where,
                    key,
                    "bakery decides the Packer dialect (packer.dialect of bakery.yaml)",
                    changed=True,
                )
            elif key == "sensitive-variables":
                continue
            elif key == "description":
                self.note(
                    entry.where,
                    key,
                    "a template description has no equivalent (each "
                    "recipe has its image's description)",
                )
            else:
                self.note(entry.where, key, "no equivalent")
        used = {
            (m.group(1), m.group(2))
            for source in self.template.sources
            for entry in source.body.entries
            if isinstance(entry.value, Expression)
            and (
                m := re.fullmatch(
                    r"data\.([a-z0-9-]+)\.([A-Za-z0-9_-]+)\.(?:id|value)", entry.value.code.strip()
                )
            )
        }
        for block in self.template.data:
            if (block.labels[0], block.labels[1]) not in used:
                self.note(
                    block.where, block.title, "a data source no source_ami uses has no equivalent"
                )

    # -- one build: one recipe -------------------------------------------------------------

    def recipe(self, build: Build, name: str) -> ConvertedRecipe | None:
        uses: list[SourceUse] = []
        for use in build.sources:
            block = self.template.source(use.builder, use.name)
            if use.builder != "amazon-ebs":
                self.note(
                    use.where,
                    f"source.{use.builder}.{use.name}",
                    f"a {use.builder} source: bakery builds amazon-ebs images",
                    recipe=name,
                )
            elif block is None:
                self.note(
                    use.where,
                    f"source.{use.builder}.{use.name}",
                    "no such source block",
                    recipe=name,
                )
            else:
                uses.append(use)
        if not uses:
            self.note(build.where, "build", "no amazon-ebs source: no recipe is made")
            return None
        names = tuple(_variant_value(use.rename or use.name) for use in uses)
        if len(set(names)) != len(names):
            names = tuple(f"{n}-{i}" for i, n in enumerate(names, start=1))
        family = len(uses) > 1
        variant = _VARIANT if family else None
        ctx = Context(
            self.template,
            self.parameters,
            self.values,
            self.given.template_folder,
            build_name=build.name,
        )
        mapped: list[Mapped] = []
        for use, value in zip(uses, names, strict=True):
            block = self.template.source(use.builder, use.name)
            assert block is not None
            body = _merged(block.body, use.settings)
            source_ctx = ctx.for_source(use.rename or use.name, variant)
            if family:
                source_ctx.source_name = value
            mapped.append(map_source(block, body, source_ctx, self.given.paths, self.given.region))
        step_ctx = ctx.for_source(names[0] if not family else None, variant)
        steps = map_provisioners(
            build, tuple(use.rename or use.name for use in uses), step_ctx, self.given.paths
        )
        # map_provisioners names sources as the build does; the variants are their values
        rename = {use.rename or use.name: value for use, value in zip(uses, names, strict=True)}
        steps = [
            dataclasses.replace(step, applies=tuple(rename[n] for n in step.applies if n in rename))
            for step in steps
        ]
        self.refine_types(ctx)
        document, comments = self.assemble(name, build, names, mapped, steps, variant)
        return self.written(name, document, comments)

    def refine_types(self, ctx: Context) -> None:
        """A string parameter whose every use is a whole number (or boolean) field takes that
        type, when its values fit (JSON templates have only text variables)."""
        for variable, parameter in list(self.parameters.items()):
            wanted = ctx.wanted.get(parameter.name or "")
            if parameter.name is None or not wanted or len(wanted) != 1:
                continue
            kind = next(iter(wanted))
            if kind == parameter.type:
                continue
            declaration = self.declarations.get(parameter.name)
            values = [self.values[variable]] if variable in self.values else []
            where = self.param_where[parameter.name]
            converted = [
                self.scalar(v, parameter.name, kind, where, f'variable "{variable}"')
                for v in values
            ]
            if any(v is None for v in converted):
                continue
            self.parameters[variable] = Parameter(variable, parameter.name, kind)
            if declaration is not None:
                declaration["type"] = kind
                if variable in self.defaults:
                    default = self.scalar(
                        self.defaults[variable], parameter.name, kind, where, "default"
                    )
                    if default is not None:
                        declaration["default"] = default
            self.note(
                where,
                f'variable "{variable}"',
                f"the parameter is {kind}: the fields that use it take one",
                changed=True,
                anchor="parameters",
            )

    def assemble(
        self,
        name: str,
        build: Build,
        names: tuple[str, ...],
        mapped: list[Mapped],
        steps: list[MappedStep],
        variant: str | None,
    ) -> tuple[dict[str, Any], dict[str, list[Finding]]]:
        comments: dict[str, list[Finding]] = {}
        seen: set[tuple[Where, str, str]] = set()

        def place(finding: Finding, anchor: str) -> None:
            key = (finding.where, finding.setting, finding.message)
            if key in seen:
                return
            seen.add(key)
            placed = finding.placed(name, anchor)
            comments.setdefault(anchor, []).append(placed)
            self.findings.append(placed)

        document: dict[str, Any] = {"name": name, "layer": "base", "version": "1.0.0"}
        declared = {
            p.name: _ordered(self.declarations[p.name])
            for p in self.parameters.values()
            if p.name is not None and p.name in self.declarations
        }
        if declared:
            document["parameters"] = declared
        sections = [m.sections for m in mapped]
        if variant is None:
            document.update(copy.deepcopy(dict(sections[0])))
        else:
            document["matrix"] = {variant: list(names)}
            common = _common(sections)
            document.update(common)
            overrides = []
            for value, section in zip(names, sections, strict=True):
                extra = _minus(section, common)
                if extra:
                    overrides.append({"when": {variant: value}, **extra})
            ami_name = document.get("ami_name")
            if (
                isinstance(ami_name, str)
                and f"(({variant}))" not in ami_name
                and ("((instance))" not in ami_name)
            ):
                document["ami_name"] = f"{ami_name}-(({variant}))"
                first = build.sources[0]
                place(
                    Finding(
                        first.where,
                        "ami_name",
                        f"the sources share one AMI name: "
                        f"-(({variant})) is added so the images of one build differ",
                        "changed",
                    ),
                    "ami_name",
                )
            if overrides:
                document["variants"] = {"overrides": overrides}
        ami_name = document.get("ami_name")
        if isinstance(ami_name, str) and not _has_unique_part(ami_name):
            document["ami_name"] = f"{ami_name}-((timestamp))"
            where = next((f.where for m in mapped for f in m.findings), build.where)
            place(
                Finding(
                    where,
                    "ami_name",
                    "the AMI name is the same for every build (AWS "
                    "refuses the second): -((timestamp)) is added",
                    "changed",
                ),
                "ami_name",
            )
        for one in mapped:
            for finding in one.findings:
                anchor = finding.anchor
                if anchor not in document:
                    anchor = "variants" if "variants" in document else "top"
                place(finding, anchor)
        provision: list[dict[str, Any]] = []
        pending: list[Finding] = []
        for step in steps:
            if step.step is None:
                pending += step.findings
                continue
            made = copy.deepcopy(dict(step.step))
            if variant is not None and set(step.applies) != set(names):
                made["when"] = {
                    variant: step.applies[0] if len(step.applies) == 1 else list(step.applies)
                }
            for finding in [*pending, *step.findings]:
                place(finding, f"provision:{len(provision)}")
            pending = []
            provision.append(made)
        if provision:
            document["provision"] = provision
        for finding in pending:
            place(finding, "provision:end" if provision else "end")
        for entry in build.others:
            place(Finding(entry.where, f"build: {entry.key}", "no equivalent"), "end")
        for post in build.post_processors:
            kind = post.labels[0]
            if kind == "manifest":
                place(
                    Finding(
                        post.where,
                        post.title,
                        "bakery writes its own manifest (.bakery/builds/...) and records the build",
                        "changed",
                    ),
                    "end",
                )
            else:
                place(Finding(post.where, post.title, "a post-processor has no equivalent"), "end")
        for finding in list(self.findings):
            if finding.recipe is None or (finding.recipe == name and finding.anchor == "end"):
                anchor = (
                    finding.anchor
                    if finding.anchor in document
                    else ("end" if finding.anchor == "end" else "top")
                )
                place(finding, anchor)
        used = _referenced(document)
        if "parameters" in document:
            for variable, parameter in self.parameters.items():
                if (
                    parameter.name is not None
                    and parameter.name in document["parameters"]
                    and parameter.name not in used
                ):
                    del document["parameters"][parameter.name]
                    place(
                        Finding(
                            self.param_where[parameter.name],
                            f'variable "{variable}"',
                            "not a parameter: no converted setting refers to it",
                            "changed",
                        ),
                        "parameters",
                    )
            if not document["parameters"]:
                del document["parameters"]
        self.used = used
        ordered = {key: document[key] for key in _KEY_ORDER if key in document}
        return ordered, comments

    def written(
        self, name: str, document: dict[str, Any], comments: dict[str, list[Finding]]
    ) -> ConvertedRecipe:
        folder = self.given.paths.recipe_folder
        file = posixpath.join(folder, f"{name}.yaml") if folder != "." else f"{name}.yaml"
        var_values: dict[str, Any] = {}
        for variable, (value, where) in self.file_values.items():
            parameter = self.parameters.get(variable)
            if parameter is None or parameter.name is None or parameter.name not in self.used:
                continue
            checked = self.scalar(
                value, parameter.name, parameter.type, where, f"{variable} (var file)"
            )
            if checked is not None:
                var_values[parameter.name] = checked
        var_file = None
        if var_values:
            var_file = (
                posixpath.join(folder, f"{name}.vars.json")
                if folder != "."
                else (f"{name}.vars.json")
            )
        sources = [self.given.label or self.given.template_file]
        sources += [f.file for f in self.given.var_files]
        header = [f"Converted by `bakery convert` from {', '.join(sources)}."]
        header.append(
            "Each `not mapped` note is a setting of the template with no equivalent "
            "here, each `changed` one a setting mapped with a difference."
        )
        if var_file:
            header.append(
                f"Parameter values of the var files: {var_file}; pass it with "
                f"--var-file {var_file}, or list it in var_files of bakery.yaml."
            )
        text = recipe_text(document, {k: _grouped(v) for k, v in comments.items()}, header)
        var_text = var_file_text(var_values) if var_values else None
        return ConvertedRecipe(name, file, document, text, var_file, var_values, var_text)


def _referenced(document: Mapping[str, Any]) -> set[str]:
    """The names every `((name))` of a document refers to."""
    found: set[str] = set()
    for _, text in config_params.walk_strings(dict(document)):
        if "((" not in text:
            continue
        try:
            found.update(ref.name for ref in config_params.references(text))
        except config_params.ReferenceSyntaxError:
            continue
    return found


def _ordered(declaration: Mapping[str, Any]) -> dict[str, Any]:
    order = ("type", "default", "env", "description")
    return {key: declaration[key] for key in order if key in declaration}


def _grouped(findings: Sequence[Finding]) -> list[str]:
    """Comments for findings, those alike for several sources of a family said once."""
    groups: dict[tuple[str, str, str], list[Finding]] = {}
    order: list[tuple[str, str, str]] = []
    for finding in findings:
        title, _, tail = finding.setting.partition(": ")
        key: tuple[str, str, str] = (finding.kind, tail, finding.message)
        if not title.startswith('source "') or not tail:
            key = (finding.kind, finding.setting, finding.message + f"@{finding.where}")
        if key not in groups:
            order.append(key)
        groups.setdefault(key, []).append(finding)
    out: list[str] = []
    for key in order:
        members = groups[key]
        if len(members) == 1:
            out.append(members[0].comment)
            continue
        first = members[0]
        lines = ", ".join(str(m.where.line) for m in members)
        titles = ", ".join(m.setting.partition(": ")[0] for m in members)
        out.append(f"{first.kind} ({first.where.file}:{lines}): {titles}: {key[1]} -- {key[2]}")
    return out


def _merged(body: Body, settings: Body | None) -> Body:
    """A source's body with a build's settings for it over its own (HCL2 `source` in `build`)."""
    if settings is None:
        return body
    keys = {entry.key for entry in settings.entries}
    kept = tuple(entry for entry in body.entries if entry.key not in keys)
    return Body(kept + settings.entries, body.where, True)


def _common(sections: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What every mapping holds alike; mappings that differ give what they share, recursively."""
    out: dict[str, Any] = {}
    for key in sections[0]:
        if not all(key in section for section in sections):
            continue
        values = [section[key] for section in sections]
        if all(value == values[0] for value in values):
            out[key] = copy.deepcopy(values[0])
        elif all(isinstance(value, dict) for value in values):
            inner = _common(values)
            if inner:
                out[key] = inner
    return out


def _minus(section: Mapping[str, Any], common: Mapping[str, Any]) -> dict[str, Any]:
    """What an override merges into `common` to make `section` (mappings merge key by key)."""
    out: dict[str, Any] = {}
    for key, value in section.items():
        if key not in common:
            out[key] = copy.deepcopy(value)
        elif value == common[key]:
            continue
        elif isinstance(value, dict) and isinstance(common[key], dict):
            inner = _minus(value, common[key])
            if inner:
                out[key] = inner
        else:
            out[key] = copy.deepcopy(value)
    return out


def _is_null(value: Value) -> bool:
    return isinstance(value, Scalar) and value.value is None


def _parameter_type(variable: Variable, value: Value | None) -> ParameterType | None:
    """The parameter type of a variable; None for a list, map or object."""
    declared = (variable.type or "").replace(" ", "")
    if declared == "string":
        return "string"
    if declared == "number":
        if isinstance(value, Scalar) and isinstance(value.value, float):
            return None if not value.value.is_integer() else "integer"
        return "integer"
    if declared == "bool":
        return "boolean"
    if declared and declared != "any":
        return None
    if isinstance(value, Items | Body):
        return None
    if isinstance(value, Scalar) and isinstance(value.value, bool):
        return "boolean"
    if isinstance(value, Scalar) and isinstance(value.value, int):
        return "integer"
    return "string"


def _parameter_name(name: str) -> str:
    cleaned = re.sub(r"[^a-z0-9_]", "_", name.lower())
    if not re.match(r"[a-z_]", cleaned):
        cleaned = f"v_{cleaned}"
    return cleaned[:60]


def _recipe_name(text: str) -> str:
    cleaned = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    cleaned = re.sub(r"-{2,}", "-", cleaned)[:63].strip("-")
    return cleaned or "converted"


def _stem(file: str) -> str:
    base = posixpath.basename(file.replace("\\", "/"))
    for suffix in (".pkr.hcl", ".pkr.json", ".json", ".hcl"):
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


def _variant_value(name: str) -> str:
    return (
        config_params.normalise(name) if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", name) else (name)
    )


def _has_unique_part(template: str) -> bool:
    try:
        return config_params.has_unique_part(template)
    except config_params.ReferenceSyntaxError:
        return True  # validation says what is wrong with it


def _order(finding: Finding) -> tuple[str, int, int]:
    return (finding.where.file, finding.where.line, finding.where.column)
