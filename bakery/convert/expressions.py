"""Template values made into recipe values, recognising a few forms and evaluating nothing.

`var.x` and ``{{user `x`}}`` become `((x))` where a recipe field takes references (and the
variable's value where it does not); `local.x` is followed to the local's own value; the usual
timestamp idioms (`regex_replace(timestamp(), "[- TZ:]", "")`, `formatdate(...)`,
`{{timestamp}}`, `{{isotime ...}}`) become bakery's build-time references in the fields that
take them; `path.root` and `{{template_dir}}` become the template's folder. Any other expression
or function is not evaluated: the value is reported as not mapped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bakery.config.marks import PathKey
from bakery.config.params import field_kind
from bakery.config.schema import REFUSED_CHARACTERS
from bakery.convert.template import (
    Body,
    Expression,
    Interpolation,
    Items,
    Scalar,
    Template,
    Text,
    Value,
)

ParameterType = Literal["string", "integer", "boolean"]
Kind = Literal["value", "name", "tag", "shell"] | None

_NAME = r"[A-Za-z_][A-Za-z0-9_-]*"
_VAR = re.compile(rf"var\.({_NAME})\Z")
_LOCAL = re.compile(rf"local\.({_NAME})\Z")
_USER = re.compile(rf"user\s+(?:`({_NAME})`|\"({_NAME})\")\Z")
_ENV_GO = re.compile(r"env\s+(?:`([A-Za-z_][A-Za-z0-9_]*)`|\"([A-Za-z_][A-Za-z0-9_]*)\")\Z")
_ENV_HCL = re.compile(r"env\(\s*\"([A-Za-z_][A-Za-z0-9_]*)\"\s*\)\Z")
# regex_replace(timestamp(), "[- TZ:]", ""): the idiom of HCL2 templates for YYYYMMDDhhmmss
_COMPACT = re.compile(r'regex_replace\(\s*timestamp\(\)\s*,\s*"\[([- TZ:]{5})\]"\s*,\s*""\s*\)\Z')
_FORMATDATE = re.compile(r'formatdate\(\s*"([^"\\]*)"\s*,\s*timestamp\(\)\s*\)\Z')
_ISOTIME = re.compile(r"isotime(?:\s+(?:`([^`]*)`|\"([^\"\\]*)\"))?\Z")
_TIMEADD = re.compile(r'timeadd\(\s*timestamp\(\)\s*,\s*"([0-9]{1,6})h"\s*\)\Z')
_REFUSED = re.compile(REFUSED_CHARACTERS)
_COMPACT_FORMAT = "%Y%m%d%H%M%S"
# Where bakery takes each build-time reference (docs/recipes.md, Build-time values).
_BUILD_TIME_KINDS: dict[str, tuple[str, ...]] = {
    "timestamp": ("name", "tag"),
    "build_time": ("name", "tag"),
    "build_id": ("name", "tag"),
    "build_date": ("tag",),
    "source_ami_id": ("name", "tag"),
    "source_ami_name": ("tag",),
}


@dataclass(frozen=True)
class Parameter:
    """How a Packer variable reaches the recipe: as parameter `name`, or (name None) not at all,
    for `reason`."""

    variable: str
    name: str | None
    type: ParameterType = "string"
    reason: str | None = None
    sensitive: bool = False
    # A variable whose default is the build's time or id ({{timestamp}}): it stands for that.
    alias: Interpolation | None = None


@dataclass(frozen=True)
class Result:
    """A recipe value made from a template value, or why none could be (`problem`)."""

    value: Any = None
    problem: str | None = None
    notes: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)  # shell text: variables it now reads
    omitted: bool = False  # the value is empty, which Packer reads as unset: left out

    @property
    def ok(self) -> bool:
        return self.problem is None


def failed(problem: str) -> Result:
    return Result(None, problem)


class Context:
    """What converting one source's values needs: the template, how its variables became
    parameters, their values, where the template lies, and which source is converted."""

    def __init__(
        self,
        template: Template,
        parameters: Mapping[str, Parameter],
        values: Mapping[str, Value],
        template_folder: str | None,
        *,
        source_name: str | None = None,
        variant_parameter: str | None = None,
        builder: str = "amazon-ebs",
        build_name: str | None = None,
    ) -> None:
        self.template = template
        self.parameters = parameters
        self.values = values
        self.template_folder = template_folder
        self.source_name = source_name
        self.variant_parameter = variant_parameter
        self.builder = builder
        self.build_name = build_name
        self.wanted: dict[str, set[ParameterType]] = {}  # parameter -> types its fields want

    def for_source(self, name: str | None, variant_parameter: str | None) -> Context:
        other = Context(
            self.template,
            self.parameters,
            self.values,
            self.template_folder,
            source_name=name,
            variant_parameter=variant_parameter,
            builder=self.builder,
            build_name=self.build_name,
        )
        other.wanted = self.wanted
        return other

    # -- whole values ---------------------------------------------------------------------

    def follow(self, value: Value, depth: int = 0) -> tuple[Value, tuple[str, ...]]:
        """Follow `local.x` to the local's value and `var.x` of a list or map variable to its
        value, so a list, map or block given through them can be converted."""
        code = _code_of(value)
        if code is None or depth > 20:
            return value, ()
        local = _LOCAL.match(code)
        if local:
            entry = self.template.local(local.group(1))
            if entry is not None:
                inner, notes = self.follow(entry.value, depth + 1)
                return inner, notes
            return value, ()
        var = _VAR.match(code) or _USER.match(code)
        if var:
            name = next(group for group in var.groups() if group)
            parameter = self.parameters.get(name)
            known = self.values.get(name)
            if (
                parameter is not None
                and parameter.name is None
                and not parameter.sensitive
                and isinstance(known, Items | Body)
            ):
                note = (
                    f"var.{name} is a {'list' if isinstance(known, Items) else 'map'}: "
                    "bakery parameters are text, numbers or booleans, so its value is "
                    "written here"
                )
                return known, (note,)
        return value, ()

    def text(self, value: Value, path: PathKey, kind: Kind | Literal["auto"] = "auto") -> Result:
        """A string for the recipe at `path` (its kind of field says what references it takes)."""
        if kind == "auto":
            kind = field_kind(path)
        value, followed = self.follow(value)
        empty = self._empty_variable(value)
        if empty is not None:
            return empty
        if isinstance(value, Scalar):
            if value.value is None:
                return failed("the value is null")
            if isinstance(value.value, bool):
                return Result("true" if value.value else "false", notes=followed)
            return Result(_number_text(value.value), notes=followed)
        if isinstance(value, Expression):
            value = Text((Interpolation(value.code, "hcl"),), value.where)
        if not isinstance(value, Text):
            return failed("a list or map where bakery takes text")
        out: list[str] = []
        notes: list[str] = list(followed)
        env: dict[str, str] = {}
        for part in value.parts:
            if isinstance(part, str):
                if "((" in part and kind != "shell":
                    return failed("the text holds ((, which a recipe reads as a reference")
                out.append(part)
                continue
            result = self._part(part, kind, "".join(out))
            if not result.ok:
                return result
            out.append(str(result.value))
            notes += result.notes
            env.update(result.env)
        text = "".join(out)
        bad = _REFUSED.search(text.replace("\t", "") if kind == "shell" else text)
        if bad:
            return failed(
                f"the text holds the control character U+{ord(bad.group()):04X}, which a recipe "
                "refuses"
            )
        return Result(text, notes=tuple(dict.fromkeys(notes)), env=env)

    def _empty_variable(self, value: Value) -> Result | None:
        """A value that is only a variable whose value is empty: Packer reads it as unset."""
        code = _code_of(value)
        match = (_VAR.match(code) or _USER.match(code)) if code is not None else None
        if match is None:
            return None
        name = next(group for group in match.groups() if group)
        parameter = self.parameters.get(name)
        if parameter is not None and parameter.sensitive:
            return None  # said as sensitive, whatever its value
        known = self.values.get(name)
        if isinstance(known, Text) and known.literal == "":
            return Result(
                None,
                f"var.{name} is empty, which Packer reads as unset: left out",
                omitted=True,
            )
        return None

    def integer(self, value: Value, path: PathKey) -> Result:
        """A whole number, or `((x))` for a variable that is one."""
        value, followed = self.follow(value)
        empty = self._empty_variable(value)
        if empty is not None:
            return empty
        if isinstance(value, Scalar):
            number = value.value
            if isinstance(number, bool) or number is None:
                return failed("not a whole number")
            if isinstance(number, float):
                if not number.is_integer():
                    return failed(f"{number} is not a whole number")
                number = int(number)
            return Result(number, notes=followed)
        if isinstance(value, Text) and value.literal is not None:
            if re.fullmatch(r"-?[0-9]{1,18}", value.literal.strip()):
                return Result(int(value.literal.strip()), notes=followed)
            return failed(f"{value.literal!r} is not a whole number")
        return self._typed(value, path, "integer")

    def boolean(self, value: Value, path: PathKey) -> Result:
        """true or false, or `((x))` for a variable that is one."""
        value, followed = self.follow(value)
        empty = self._empty_variable(value)
        if empty is not None:
            return empty
        if isinstance(value, Scalar):
            if isinstance(value.value, bool):
                return Result(value.value, notes=followed)
            return failed("not true or false")
        if isinstance(value, Text) and value.literal is not None:
            if value.literal.strip().lower() in ("true", "false"):
                return Result(value.literal.strip().lower() == "true", notes=followed)
            return failed(f"{value.literal!r} is not true or false")
        return self._typed(value, path, "boolean")

    def _typed(self, value: Value, path: PathKey, wanted: ParameterType) -> Result:
        code = _code_of(value)
        match = (_VAR.match(code) or _USER.match(code)) if code is not None else None
        if match is None:
            return failed(_unknown_expression(code))
        name = next(group for group in match.groups() if group)
        parameter = self.parameters.get(name)
        if parameter is None:
            return failed(f"var.{name} is not declared")
        if parameter.alias is not None:
            return failed(f"var.{name} is the build's time or id; this field takes a {wanted}")
        if parameter.name is None:
            return self._inlined(name, parameter, "auto", wanted)
        if field_kind(path) is None:
            return self._inlined(name, parameter, None, wanted)
        self.wanted.setdefault(parameter.name, set()).add(wanted)
        return Result(f"(({parameter.name}))")

    def strings(self, value: Value, path: PathKey) -> Result:
        """A list of strings (each at path + index)."""
        value, followed = self.follow(value)
        empty = self._empty_variable(value)
        if empty is not None:
            return Result([], notes=(f"{empty.problem}: no items",))
        if isinstance(value, Text):
            # A JSON template gives a list as text, `a,b` (Packer splits it at the commas)
            joined = self.text(value, (*path, 0), None)
            if not joined.ok:
                return joined
            items = [item.strip() for item in str(joined.value).split(",") if item.strip()]
            if any("((" in item for item in items):
                return failed("a list given as text that holds references")
            return Result(items, notes=(*joined.notes, "a list given as text, a,b: its items"))
        if not isinstance(value, Items):
            code = _code_of(value)
            return failed(_unknown_expression(code) if code else "not a list of strings")
        out: list[str] = []
        notes: list[str] = list(followed)
        for index, item in enumerate(value.items):
            result = self.text(item, (*path, index))
            if not result.ok:
                return result
            out.append(str(result.value))
            notes += result.notes
        return Result(out, notes=tuple(dict.fromkeys(notes)))

    def string_map(self, value: Value, path: PathKey) -> Result:
        """A mapping of strings to strings (each value at path + key)."""
        value, followed = self.follow(value)
        if not isinstance(value, Body):
            return failed(_unknown_expression(_code_of(value)) if _code_of(value) else "not a map")
        out: dict[str, str] = {}
        notes: list[str] = list(followed)
        for entry in value.entries:
            key = entry.key
            if "${" in key or "{{" in key or "((" in key:
                return failed(f"the key {key!r} is an expression; bakery takes keys as text")
            if _REFUSED.search(key):
                return failed("a key holds a control character")
            result = self.text(entry.value, (*path, key))
            if not result.ok:
                return Result(None, f"{key}: {result.problem}")
            out[key] = str(result.value)
            notes += result.notes
        return Result(out, notes=tuple(dict.fromkeys(notes)))

    # -- one interpolation -----------------------------------------------------------------

    def _part(self, part: Interpolation, kind: Kind, before: str) -> Result:
        code = " ".join(part.code.split())
        if part.dialect == "directive":
            return failed(f"%{{{code}}} is an HCL template directive, which bakery does not run")
        if part.dialect == "go":
            return self._go(code, kind, before)
        return self._hcl(code, kind, before)

    def _hcl(self, code: str, kind: Kind, before: str, depth: int = 0) -> Result:
        var = _VAR.match(code)
        if var:
            return self._variable(var.group(1), kind, before)
        local = _LOCAL.match(code)
        if local:
            entry = self.template.local(local.group(1))
            if entry is None:
                return failed(f"local.{local.group(1)} is not declared")
            if depth > 20:
                return failed(f"local.{local.group(1)} refers to itself")
            inner = entry.value
            inner_code = _code_of(inner)
            if inner_code is not None and not isinstance(inner, Text):
                return self._hcl(" ".join(inner_code.split()), kind, before, depth + 1)
            if (
                isinstance(inner, Text)
                and len(inner.parts) == 1
                and not isinstance(inner.parts[0], str)
            ):
                only = inner.parts[0]
                if only.dialect == "hcl":
                    return self._hcl(" ".join(only.code.split()), kind, before, depth + 1)
            return self.text(inner, (), kind)
        if code == "path.root":
            return self._template_folder()
        if code == "path.cwd":
            return Result(".")
        if code in ("source.name", "build.name") and kind != "shell":
            return self._source_name(kind)
        if code == "source.type":
            return Result(self.builder)
        compact = _COMPACT.match(code)
        if compact and set(compact.group(1)) == set("- TZ:"):
            return self._build_time("timestamp", kind, code)
        if code == "timestamp()":
            return self._build_time(
                "build_date",
                kind,
                code,
                "timestamp() is RFC 3339 (2006-01-02T15:04:05Z), as ((build_date))",
            )
        date = _FORMATDATE.match(code)
        if date:
            fmt = _formatdate(date.group(1))
            if fmt is None:
                return failed(f"{code}: bakery has no equivalent of this date format")
            return self._time_format(fmt, kind, code)
        if code == "uuidv4()":
            return self._build_time(
                "build_id", kind, code, "uuidv4() becomes ((build_id)), as unique for each build"
            )
        return failed(_unknown_expression(code))

    def _go(self, code: str, kind: Kind, before: str) -> Result:
        user = _USER.match(code)
        if user:
            return self._variable(next(g for g in user.groups() if g), kind, before)
        if code == "timestamp":
            return self._build_time(
                "timestamp",
                kind,
                "{{timestamp}}",
                "{{timestamp}} is Unix time; ((timestamp)) is YYYYMMDDhhmmss (UTC)",
            )
        iso = _ISOTIME.match(code)
        if iso:
            layout = next((g for g in iso.groups() if g is not None), None)
            if layout is None:
                return self._build_time("build_date", kind, "{{isotime}}")
            fmt = _go_layout(layout)
            if fmt is None:
                return failed(f"{{{{{code}}}}}: bakery has no equivalent of this time layout")
            return self._time_format(fmt, kind, "{{" + code + "}}")
        if code == "uuid":
            return self._build_time(
                "build_id", kind, "{{uuid}}", "{{uuid}} becomes ((build_id)), as unique"
            )
        if code == "template_dir":
            return self._template_folder()
        if code == "pwd":
            return Result(".")
        if code in ("build_name", ".BuildName") and kind != "shell":
            return self._source_name(kind)
        if code in ("build_type",):
            return Result(self.builder)
        if code == ".SourceAMI":
            return self._build_time("source_ami_id", kind, "{{ .SourceAMI }}")
        if code == ".SourceAMIName":
            return self._build_time("source_ami_name", kind, "{{ .SourceAMIName }}")
        if code == ".BuildRegion" and kind is not None and kind != "shell":
            return Result("((build_region))")
        if _ENV_GO.match(code):
            return failed(
                f"{{{{{code}}}}} reads the bake host's environment; only a variable's default "
                "may (it becomes the parameter's env:)"
            )
        return failed(f"{{{{{code}}}}} is a Go template bakery does not evaluate")

    def _variable(self, name: str, kind: Kind, before: str) -> Result:
        parameter = self.parameters.get(name)
        if parameter is None:
            return failed(f"var.{name} is not declared")
        if parameter.alias is not None:
            result = self._part(parameter.alias, kind, before)
            if not result.ok:
                return Result(None, f"var.{name}: {result.problem}")
            note = f"var.{name} (its default is the build's time or id) becomes {result.value}"
            return Result(result.value, notes=(*result.notes, note))
        if parameter.name is None:
            return self._inlined(name, parameter, kind, None)
        if kind == "shell":
            if _in_single_quotes(before):
                return self._inlined(name, parameter, kind, None)
            env_name = parameter.name.upper()
            return Result(
                f"${{{env_name}}}",
                notes=(
                    f"var.{name} in a command is now ${{{env_name}}}, from the step's env "
                    f"({env_name}: (({parameter.name})))",
                ),
                env={env_name: f"(({parameter.name}))"},
            )
        if kind is None:
            return self._inlined(name, parameter, kind, None)
        return Result(f"(({parameter.name}))")

    def _inlined(
        self, name: str, parameter: Parameter, kind: Kind | str, wanted: ParameterType | None
    ) -> Result:
        """The value of a variable written out where a reference cannot stand."""
        if parameter.sensitive:
            return failed(f"var.{name} is sensitive: its value is never written into a recipe")
        value = self.values.get(name)
        scalar: Any
        if isinstance(value, Text) and value.literal is not None:
            scalar = value.literal
        elif isinstance(value, Scalar) and value.value is not None:
            scalar = value.value
        else:
            why = parameter.reason or "this field takes no ((reference))"
            return failed(f"var.{name} has no value to write here ({why})")
        if wanted == "integer":
            if isinstance(scalar, str) and re.fullmatch(r"-?[0-9]{1,18}", scalar):
                scalar = int(scalar)
            if isinstance(scalar, float) and scalar.is_integer():
                scalar = int(scalar)
        elif wanted == "boolean" and isinstance(scalar, str):
            if scalar in ("true", "false"):
                scalar = scalar == "true"
        elif wanted is None:
            scalar = (
                ("true" if scalar else "false")
                if isinstance(scalar, bool)
                else _number_text(scalar)
                if isinstance(scalar, int | float)
                else str(scalar)
            )
        why = parameter.reason or (
            "a command's text in single quotes"
            if kind == "shell"
            else "this field takes no ((reference))"
        )
        return Result(scalar, notes=(f"var.{name} is written as its value here: {why}",))

    def _template_folder(self) -> Result:
        if self.template_folder is None:
            return failed("the template's folder (path.root) is outside the project")
        return Result(self.template_folder)

    def _source_name(self, kind: Kind) -> Result:
        if self.variant_parameter is not None:
            if kind is None:
                return failed("the source's name differs by variant; this field takes no reference")
            return Result(f"(({self.variant_parameter}))")
        return Result(self.source_name or "")

    def _build_time(self, builtin: str, kind: Kind, code: str, note: str | None = None) -> Result:
        if kind not in _BUILD_TIME_KINDS[builtin]:
            places = " and ".join(
                {"name": "ami_name", "tag": "tag values"}[k] for k in _BUILD_TIME_KINDS[builtin]
            )
            return failed(f"{code} is known only when a build runs; bakery has it in {places}")
        return Result(f"(({builtin}))", notes=(note,) if note else ())

    def _time_format(self, fmt: str, kind: Kind, code: str) -> Result:
        if fmt == _COMPACT_FORMAT:
            return self._build_time("timestamp", kind, code)
        result = self._build_time("build_time", kind, code)
        if not result.ok:
            return result
        return Result(f"((build_time:{fmt}))")


def _code_of(value: Value) -> str | None:
    """The expression a value is, if it is one: `var.x`, or a string that is only `${var.x}`."""
    if isinstance(value, Expression):
        return " ".join(value.code.split())
    if isinstance(value, Text) and len(value.parts) == 1:
        part = value.parts[0]
        if isinstance(part, Interpolation) and part.dialect in ("hcl", "go"):
            return " ".join(part.code.split())
    return None


def build_time_default(value: Value) -> Interpolation | None:
    """The interpolation a variable's default is when that is the build's time or id
    (`{{timestamp}}`, `{{isotime ...}}`, `{{uuid}}`, `timestamp()` and its idioms)."""
    if not isinstance(value, Text) or len(value.parts) != 1:
        return None
    part = value.parts[0]
    if not isinstance(part, Interpolation):
        return None
    code = " ".join(part.code.split())
    if part.dialect == "go" and (code in ("timestamp", "uuid") or _ISOTIME.match(code)):
        return part
    if part.dialect == "hcl" and (
        code in ("timestamp()", "uuidv4()") or _COMPACT.match(code) or _FORMATDATE.match(code)
    ):
        return part
    return None


def env_default(value: Value) -> str | None:
    """The environment variable a variable's default reads (`env("X")`, ``{{env `X`}}``)."""
    code = _code_of(value)
    if code is None:
        return None
    match = _ENV_HCL.match(code) or _ENV_GO.match(code)
    if match is None:
        return None
    return next(group for group in match.groups() if group)


def deprecate_days(value: Value) -> int | None:
    """Days of `deprecate_at = timeadd(timestamp(), "NNNh")`, when whole days."""
    code = _code_of(value)
    match = _TIMEADD.match(code) if code is not None else None
    if match is None or int(match.group(1)) % 24:
        return None
    return int(match.group(1)) // 24


def _unknown_expression(code: str | None) -> str:
    if code is None:
        return "an expression bakery does not evaluate"
    function = re.match(r"([a-z_][a-z0-9_]*)\(", code)
    if function:
        return f"{function.group(1)}() is an HCL function bakery does not evaluate ({code})"
    return f"{code} is an expression bakery does not evaluate"


def _number_text(number: int | float) -> str:
    if isinstance(number, float) and number.is_integer():
        return str(int(number))
    return str(number)


def _in_single_quotes(before: str) -> bool:
    """Whether the shell text so far leaves an open single quote on its last line."""
    line = before.rsplit("\n", 1)[-1]
    quoted, escaped, double = False, False, False
    for char in line:
        if escaped:
            escaped = False
        elif char == "\\" and not quoted:
            escaped = True
        elif char == "'" and not double:
            quoted = not quoted
        elif char == '"' and not quoted:
            double = not double
    return quoted


_FORMATDATE_TOKENS = {
    "YYYY": "%Y",
    "YY": "%y",
    "MM": "%m",
    "DD": "%d",
    "hh": "%H",
    "mm": "%M",
    "ss": "%S",
}
_GO_TOKENS = {"2006": "%Y", "06": "%y", "01": "%m", "02": "%d", "15": "%H", "04": "%M", "05": "%S"}
_LITERAL = re.compile(r"[-_.:T]")


def _formatdate(spec: str) -> str | None:
    """A `formatdate` spec (YYYYMMDDhhmmss, 'T' quoted) as a build_time format, if it maps."""
    out: list[str] = []
    index = 0
    while index < len(spec):
        if spec[index] == "'":
            end = spec.find("'", index + 1)
            if end < 0:
                return None
            literal = spec[index + 1 : end]
            if not all(_LITERAL.fullmatch(c) or c.isalnum() for c in literal):
                return None
            out.append(literal)
            index = end + 1
            continue
        for token, directive in _FORMATDATE_TOKENS.items():
            if spec.startswith(token, index):
                out.append(directive)
                index += len(token)
                break
        else:
            if not _LITERAL.fullmatch(spec[index]):
                return None
            out.append(spec[index])
            index += 1
    return "".join(out) or None


def _go_layout(layout: str) -> str | None:
    """A Go time layout (2006-01-02T15:04:05) as a build_time format, if it maps."""
    out: list[str] = []
    index = 0
    while index < len(layout):
        for token, directive in _GO_TOKENS.items():
            if layout.startswith(token, index):
                out.append(directive)
                index += len(token)
                break
        else:
            if not _LITERAL.fullmatch(layout[index]):
                return None
            out.append(layout[index])
            index += 1
    return "".join(out) or None
