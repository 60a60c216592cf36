"""Recipe parameters: declarations, the values given for them, and `((name))` references.

A reference is `((name))`: not HCL's `${}`/`%{}` nor Packer's `{{ }}`, so a recipe's text never
means something to Packer. References are resolved here, before validation, so a value from a
parameter passes the same schema, rules and escaping as a literal would. References to facts
known only when a build runs (the build id, its time, the source AMI) stay in the text, written
the one way `resolve_build_references` reads them, and only in the fields that allow them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from bakery.config import rule_codes as rc
from bakery.config.marks import MarkedDocument, PathKey, load_marked
from bakery.config.paths import shown

ParameterType = Literal["string", "integer", "boolean"]
Value = str | int | bool
PARAMETER_NAME = r"[a-z_][a-z0-9_]*"
ENV_PREFIX = "BAKERY_VAR_"
MAX_VALUE_LENGTH = 256
MAX_PATTERN_REPEATS = 4

# Known when a recipe loads.
LOAD_BUILTINS = ("recipe", "version", "layer", "build_region", "instance")
# Known only when a build runs; `build_time` takes a strftime format: ((build_time:%Y%m%d)).
NAME_BUILD_BUILTINS = ("build_id", "timestamp", "build_time")
TAG_BUILD_BUILTINS = (*NAME_BUILD_BUILTINS, "build_date", "source_ami_id", "source_ami_name")
BUILTINS = frozenset((*LOAD_BUILTINS, *TAG_BUILD_BUILTINS))
# strftime directives a build time may use, and what each is at its longest.
TIME_DIRECTIVES = {"Y": "9999", "m": "12", "d": "31", "H": "23", "M": "59", "S": "59",
                   "y": "99", "j": "366"}  # fmt: skip
_TIME_FORMAT = re.compile(r"\A(?:%[YmdHMSyj]|[-_.:T0-9A-Za-z])+\Z")
# The longest value of each build-time fact, to check names and tags against AWS's limits.
LONGEST_BUILD_VALUES = {
    "build_id": "0" * 26,
    "timestamp": "9" * 14,
    "build_date": "2000-01-01T00:00:00Z",
    "source_ami_id": "ami-" + "f" * 17,
    "source_ami_name": "n" * 128,
}

_OPEN, _CLOSE = "((", "))"
# Spaces only around the name: a control character inside (( )) is never silently dropped.
_INNER = re.compile(rf"\A *({PARAMETER_NAME})(?::([^\s()]*))? *\Z")

# Fields (paths, `*` any key or index) where references may stand, and what they may name.
FieldKind = Literal["value", "name", "tag", "shell"]
_FIELDS: tuple[tuple[tuple[str, ...], FieldKind], ...] = (
    (("version",), "value"),
    (("description",), "value"),
    (("ami_name",), "name"),
    (("variants", "name"), "value"),
    (("source", "ssm_parameter"), "value"),
    (("source", "ami"), "value"),
    (("source", "recipe"), "value"),
    (("source", "filter", "name"), "value"),
    (("source", "filter", "owners", "*"), "value"),
    (("source", "filter", "architecture"), "value"),
    (("source", "filter", "filters", "*"), "value"),
    (("build", "user_data"), "shell"),  # user data is a script or cloud-config: `$((...))`
    (("build", "*"), "value"),
    (("build", "*", "*"), "value"),
    (("build", "*", "*", "*"), "value"),
    (("build", "*", "*", "*", "*"), "value"),
    (("environment", "*"), "value"),
    (("provision", "*", "script"), "value"),
    (("provision", "*", "file", "source"), "value"),
    (("provision", "*", "file", "destination"), "value"),
    (("provision", "*", "env", "*"), "value"),
    (("provision", "*", "args", "*"), "value"),
    (("provision", "*", "download", "source"), "value"),
    (("provision", "*", "download", "destination"), "value"),
    (("provision", "*", "ansible", "playbook"), "value"),
    (("provision", "*", "ansible", "folder"), "value"),
    (("provision", "*", "ansible", "galaxy_file"), "value"),
    (("provision", "*", "ansible", "extra_vars", "*"), "value"),
    (("provision", "*", "inline", "*"), "shell"),
    (("tests", "*"), "shell"),
    (("tags", "*"), "tag"),
    (("distribute", "regions", "*"), "value"),
)
FAMILY_KEYS = ("parameters", "matrix", "variants")


def field_kind(path: PathKey) -> FieldKind | None:
    """Say what references may name at `path` of a recipe; None: no reference may stand there."""
    if path[:2] == ("variants", "overrides") and len(path) > 3 and path[3] != "when":
        path = path[3:]
    for glob, kind in _FIELDS:
        if len(glob) == len(path) and all(g in ("*", p) for g, p in zip(glob, path, strict=True)):
            return kind
    return None


@dataclass(frozen=True)
class Reference:
    """One `((name))` or `((name:format))` in a string, at [start, end)."""

    start: int
    end: int
    name: str
    format: str | None = None

    @property
    def text(self) -> str:
        """How bakery writes the reference back: `((name))` or `((name:format))`."""
        return f"(({self.name}:{self.format}))" if self.format else f"(({self.name}))"


class ReferenceSyntaxError(ValueError):
    """A `((` that does not start a well-formed reference."""


def references(text: str) -> list[Reference]:
    """Return every reference in `text`; raise ReferenceSyntaxError on a malformed one."""
    found: list[Reference] = []
    index = text.find(_OPEN)
    while index >= 0:
        end = text.find(_CLOSE, index + 2)
        if end < 0:
            raise ReferenceSyntaxError(
                f"{shown(text[index : index + 40])} opens a reference that never closes with ))"
            )
        match = _INNER.match(text[index + 2 : end])
        if match is None:
            raise ReferenceSyntaxError(
                f"{shown(text[index : end + 2])} is not a reference: write ((name)) with a "
                "parameter name of lowercase letters, digits and _"
            )
        name, fmt = match.group(1), match.group(2)
        if fmt is not None and name != "build_time":
            raise ReferenceSyntaxError(f"((name:format)) is for build_time only, not {name}")
        if name == "build_time" and (fmt is None or not _TIME_FORMAT.match(fmt)):
            raise ReferenceSyntaxError(
                "((build_time:FORMAT)) needs a format of %Y %m %d %H %M %S %y %j and - _ . : T, "
                "e.g. ((build_time:%Y%m%d%H%M%S))"
            )
        found.append(Reference(index, end + 2, name, fmt))
        index = text.find(_OPEN, end + 2)
    return found


def substitute(text: str, lookup: Callable[[Reference], str | None]) -> str:
    """Replace each reference `lookup` gives a value for; keep the others, written canonically."""
    out: list[str] = []
    position = 0
    for ref in references(text):
        out.append(text[position : ref.start])
        value = lookup(ref)
        out.append(ref.text if value is None else value)
        position = ref.end
    out.append(text[position:])
    return "".join(out)


def format_build_time(fmt: str, moment: datetime) -> str:
    """A build time in a recipe's format (only the directives TIME_DIRECTIVES lists)."""
    return re.sub(r"%([YmdHMSyj])", lambda m: moment.strftime("%" + m.group(1)), fmt)


def has_unique_part(template: str) -> bool:
    """Whether a name made from `template` differs for every build: it holds the build id, the
    timestamp, or a build time down to the second."""
    return any(
        ref.name in ("build_id", "timestamp")
        or (ref.format is not None and _whole_time(ref.format))
        for ref in references(template)
    )


def _whole_time(fmt: str) -> bool:
    """Whether a build-time format names the moment to the second (year, day, hour, minute,
    second), so it never repeats."""
    has = set(re.findall(r"%([YmdHMSyj])", fmt))
    day = {"m", "d"} <= has or "j" in has
    return bool(has & {"Y", "y"}) and day and {"H", "M", "S"} <= has


def resolve_build_references(text: str, facts: Mapping[str, str], moment: datetime) -> str:
    """Fill in the build-time references of a name or tag value once the build's facts are
    known (`facts` by built-in name; `moment` for ((build_time:FORMAT)))."""

    def lookup(ref: Reference) -> str | None:
        if ref.name == "build_time" and ref.format is not None:
            return format_build_time(ref.format, moment)
        return facts.get(ref.name, "")

    return substitute(text, lookup)


def longest_build_value(ref: Reference) -> str:
    """The longest text a build-time reference can become, to check AWS's length limits."""
    if ref.name == "build_time" and ref.format is not None:
        return re.sub(r"%([YmdHMSyj])", lambda m: TIME_DIRECTIVES[m.group(1)], ref.format)
    return LONGEST_BUILD_VALUES.get(ref.name, "")


@dataclass(frozen=True)
class Parameter:
    """A declared parameter, with where its declaration stands (for messages)."""

    name: str
    type: ParameterType = "string"
    default: Value | None = None
    allowed: tuple[Value, ...] = ()
    pattern: str | None = None
    minimum: int | None = None
    maximum: int | None = None
    env: str | None = None
    description: str = ""
    where: str = ""  # FILE:LINE:COL of the declaration

    def check(self, value: Any) -> tuple[Value | None, str | None]:
        """Turn `value` (text from the command line or environment, or a YAML scalar) into a
        value of this parameter's type; else say what is wrong."""
        parsed: Value
        if self.type == "integer":
            if isinstance(value, bool) or not isinstance(value, int | str):
                return None, f"{self.name} is a whole number, not {_describe(value)}"
            if isinstance(value, str):
                if not re.fullmatch(r"-?[0-9]{1,18}", value):
                    return None, f"{self.name} is a whole number, not {shown(value)}"
                value = int(value)
            number: int = value
            parsed = number
            if self.minimum is not None and number < self.minimum:
                return None, f"{self.name} is at least {self.minimum}, not {parsed}"
            if self.maximum is not None and number > self.maximum:
                return None, f"{self.name} is at most {self.maximum}, not {parsed}"
        elif self.type == "boolean":
            if isinstance(value, str) and value in ("true", "false"):
                value = value == "true"
            if not isinstance(value, bool):
                return None, f"{self.name} is true or false, not {_describe(value)}"
            parsed = value
        else:
            if not isinstance(value, str):
                return None, f"{self.name} is a string, not {_describe(value)}; quote it"
            problem = text_problem(value)
            if problem:
                return None, f"{self.name}: {problem}"
            if self.pattern is not None and re.fullmatch(self.pattern, value) is None:
                return None, f"{self.name} must match {self.pattern}, not {shown(value)}"
            parsed = value
        if self.allowed and parsed not in self.allowed:
            choices = ", ".join(as_text(item) for item in self.allowed)
            return None, f"{self.name} is one of {choices}, not {shown(as_text(parsed))}"
        return parsed, None


def text_problem(value: str) -> str | None:
    """Say what makes `value` unfit as a parameter's text, if anything."""
    from bakery.config.schema import REFUSED_CHARACTERS

    if not value:
        return "the value is empty"
    if len(value) > MAX_VALUE_LENGTH:
        return f"the value is {len(value)} characters long; at most {MAX_VALUE_LENGTH}"
    bad = re.search(REFUSED_CHARACTERS, value)
    if bad:
        return f"the value holds the control character U+{ord(bad.group()):04X}"
    if _OPEN in value or "{{" in value:
        return "the value holds (( or {{; a value is text, not a template"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "the value is not valid UTF-8"
    return None


# Environment variables a parameter's `env:` may not name: the runner's credentials and tokens
# (a pull request could otherwise copy them into an image's tags).
_SECRET_ENV = re.compile(
    r"(TOKEN|SECRET|PASSW|KEY|CREDENTIAL|AUTH|SESSION|COOKIE|PRIVATE|CERT)"
    r"|\A(AWS_|ACTIONS_|GITHUB_|GITLAB_|CI_JOB|RUNNER_|BUILDKITE_AGENT|CIRCLE_|SSH_|GPG_)",
    re.IGNORECASE,
)


def env_problem(name: str) -> str | None:
    """Say why a parameter may not take its value from environment variable `name`."""
    if _SECRET_ENV.search(name):
        return (
            f"{name} looks like a credential or a CI runner's variable; a recipe may not read it. "
            f"Pass a value with --var or {ENV_PREFIX}<name> instead"
        )
    return None


def as_text(value: Value) -> str:
    """A value as it is written into a string: booleans as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return shown(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return f"a {type(value).__name__}"


def declarations(
    doc: MarkedDocument, data: Mapping[str, Any], prefix: PathKey
) -> tuple[dict[str, Parameter], list[Any]]:
    """Read schema-valid `parameters:` declarations at `prefix` of `doc`; report defaults that
    do not fit their own declaration and names taken by built-ins."""
    found: dict[str, Parameter] = {}
    problems: list[Any] = []
    for name, spec in data.items():
        where = (*prefix, name)
        mark = doc.where(where)
        default = spec.get("default")
        implied: ParameterType = (
            "boolean" if isinstance(default, bool) else "integer" if isinstance(default, int)
            else "string"
        )  # fmt: skip
        kind: ParameterType = spec.get("type", implied)
        parameter = Parameter(
            name=name,
            type=kind,
            allowed=tuple(spec.get("allowed", ())),
            pattern=spec.get("pattern"),
            minimum=spec.get("minimum"),
            maximum=spec.get("maximum"),
            env=spec.get("env"),
            description=spec.get("description", ""),
            where=f"{doc.file}:{mark.line}:{mark.column}",
        )
        if name in BUILTINS:
            problems.append(
                doc.problem(
                    rc.PARAMETER_DECLARATION,
                    where,
                    f"{name} is a built-in reference ({', '.join(sorted(BUILTINS))}); "
                    "name the parameter otherwise",
                )
            )
            continue
        why_env = env_problem(parameter.env) if parameter.env else None
        if why_env:
            problems.append(doc.problem(rc.PARAMETER_DECLARATION, (*where, "env"), why_env))
            continue
        if parameter.pattern is not None and kind != "string":
            problems.append(
                doc.problem(
                    rc.PARAMETER_DECLARATION, (*where, "pattern"), "a pattern is for strings only"
                )
            )
            continue
        if (
            parameter.minimum is not None
            and parameter.maximum is not None
            and parameter.minimum > parameter.maximum
        ):
            problems.append(
                doc.problem(
                    rc.PARAMETER_DECLARATION, (*where, "minimum"), "minimum is over maximum"
                )
            )
            continue
        if parameter.pattern is not None:
            why = pattern_problem(parameter.pattern)
            if why:
                problems.append(doc.problem(rc.PARAMETER_DECLARATION, (*where, "pattern"), why))
                continue
        for index, item in enumerate(parameter.allowed):
            _, why = Parameter(name, kind, pattern=parameter.pattern).check(item)
            if why:
                problems.append(doc.problem(rc.PARAMETER_VALUE, (*where, "allowed", index), why))
        if "default" in spec:
            default, why = parameter.check(spec["default"])
            if why:
                problems.append(doc.problem(rc.PARAMETER_VALUE, (*where, "default"), why))
            else:
                parameter = Parameter(**{**parameter.__dict__, "default": default})
        found[name] = parameter
    return found, problems


def pattern_problem(pattern: str) -> str | None:
    """Say why a parameter's pattern is refused: not a regular expression, or one that can take
    exponential time (a repetition or alternation inside a repetition, a
    back reference), since a pull request
    chooses both the pattern and the value it is matched against."""
    import re._parser as parser  # type: ignore[import-not-found]  # the engine's parse tree

    try:
        tree = parser.parse(pattern)
    except (re.error, RecursionError, OverflowError) as error:
        return f"not a regular expression: {error}"
    repeats = (parser.MAX_REPEAT, parser.MIN_REPEAT, parser.POSSESSIVE_REPEAT)

    def risky(items: Any, inside_repeat: bool) -> bool:
        for op, arg in items:
            if op in (parser.GROUPREF, parser.GROUPREF_EXISTS):
                return True
            if op in repeats:
                low, high, sub = arg
                if inside_repeat and high != low:
                    return True
                if risky(sub, inside_repeat or high > 1):
                    return True
            elif op == parser.SUBPATTERN:
                if risky(arg[-1], inside_repeat):
                    return True
            elif op == parser.BRANCH:
                if inside_repeat or any(risky(branch, inside_repeat) for branch in arg[1]):
                    return True
            elif op in (parser.ASSERT, parser.ASSERT_NOT, parser.ATOMIC_GROUP) and risky(
                arg[-1], inside_repeat
            ):
                return True
        return False

    def variable_repeats(items: Any) -> int:
        count = 0
        for op, arg in items:
            if op in repeats:
                count += (arg[0] != arg[1]) + variable_repeats(arg[2])
            elif op == parser.SUBPATTERN:
                count += variable_repeats(arg[-1])
            elif op == parser.BRANCH:
                count += sum(variable_repeats(branch) for branch in arg[1])
        return count

    if variable_repeats(tree) > MAX_PATTERN_REPEATS:
        return (
            f"the pattern has more than {MAX_PATTERN_REPEATS} repetitions of varying length "
            "(*, +, ?, {m,n}), which can take very long to match; simplify it"
        )
    if risky(tree, False):
        return (
            "the pattern repeats a repetition or refers back to a group, which can take "
            "exponential time; write it without (e.g. [0-9]+ not ([0-9]+)+)"
        )
    return None


@dataclass(frozen=True)
class GivenValue:
    """A value given for a parameter, and where: `--var`, an environment variable, a var file."""

    value: Any
    origin: str  # `--var arch=arm64`, `BAKERY_VAR_arch`, `vars/prod.yaml:3:7`
    file: str | None = None  # a var file's, for FILE:LINE:COL
    line: int = 1
    column: int = 1


@dataclass(frozen=True)
class GivenValues:
    """Every value given for parameters, each the one of highest precedence, and the
    environment variables a parameter's `env:` may name (read only when one names them)."""

    values: Mapping[str, GivenValue]
    environ: Mapping[str, str]

    def of(self, parameter: Parameter) -> GivenValue | None:
        """The value given for `parameter`: `--var` over `BAKERY_VAR_<name>` and its `env:`,
        over var files."""
        given = self.values.get(parameter.name)
        if given is not None and not given.origin.startswith("var file"):
            return given
        for variable in (f"{ENV_PREFIX}{parameter.name}", parameter.env):
            if variable and variable in self.environ:
                return GivenValue(self.environ[variable], f"environment variable {variable}")
        return given


def parse_var_option(text: str) -> tuple[str, str]:
    """Split `--var name=value`; raise ValueError saying what is wrong."""
    name, equals, value = text.partition("=")
    if not equals:
        raise ValueError(f"--var {shown(text)}: write --var NAME=VALUE")
    if not re.fullmatch(PARAMETER_NAME, name):
        raise ValueError(
            f"--var {shown(text)}: {shown(name)} is not a parameter name "
            "(lowercase letters, digits and _)"
        )
    return name, value


def load_var_file(text: str, file: str) -> tuple[dict[str, GivenValue], list[Any]]:
    """Read a var file: a YAML mapping of parameter names to scalars, with their marks."""
    from bakery.config.schema import VAR_FILE_SCHEMA
    from bakery.config.schema_check import check_shape

    doc, problems = load_marked(text, file)
    if doc is None or problems:
        return {}, problems
    if doc.data is None:
        return {}, []
    problems = check_shape(doc, VAR_FILE_SCHEMA)
    if problems:
        return {}, problems
    found: dict[str, GivenValue] = {}
    for name, value in doc.data.items():
        mark = doc.values.get((name,)) or doc.where((name,))
        found[name] = GivenValue(value, f"var file {file}", file, mark.line, mark.column)
    return found, []


def combinations(
    matrix: Mapping[str, Any],
) -> tuple[list[str], list[dict[str, Value]], list[tuple[str, int]]]:
    """Expand a schema-valid matrix: its parameter names, each combination in order (the
    product, less `exclude`, plus `include`), and the exclude entries that dropped nothing."""
    axes = [name for name in matrix if name not in ("include", "exclude")]
    result: list[dict[str, Value]] = [{}]
    for axis in axes:
        result = [{**combo, axis: value} for combo in result for value in matrix[axis]]
    unused: list[tuple[str, int]] = []
    for index, entry in enumerate(matrix.get("exclude", ())):
        kept = [combo for combo in result if not all(combo.get(k) == v for k, v in entry.items())]
        if len(kept) == len(result):
            unused.append(("exclude", index))
        result = kept
    for entry in matrix.get("include", ()):
        combo = {axis: entry[axis] for axis in axes if axis in entry}
        if combo not in result:
            result.append(combo)
    return axes, result, unused


def matches(when: Mapping[str, Any], values: Mapping[str, Value]) -> bool:
    """Whether a `when:` condition holds for an instance's values: each named parameter has the
    value, or one of the list of values, the condition gives."""
    for name, wanted in when.items():
        options = wanted if isinstance(wanted, list) else [wanted]
        if values.get(name) not in options:
            return False
    return True


def instance_name(family: str, axes: list[str], combo: Mapping[str, Value]) -> str:
    """The default name of a family's instance: `FAMILY-VALUE1-VALUE2`, values normalised to
    what a recipe name may hold."""
    parts = [family, *(normalise(as_text(combo[axis])) for axis in axes)]
    return "-".join(parts)


def normalise(text: str) -> str:
    """Lowercase `text`, with each run of characters other than a-z 0-9 . _ turned into `-`."""
    cleaned = re.sub(r"[^a-z0-9._]+", "-", text.lower()).strip("-")
    return re.sub(r"\.{2,}", ".", cleaned) or "x"


def selector(text: str) -> tuple[str, dict[str, str]] | None:
    """Read `NAME[key=value,...]`; None if `text` has no brackets."""
    match = re.fullmatch(r"([a-z0-9][a-z0-9._-]*)\[([^\[\]]*)\]", text)
    if match is None:
        return None
    wanted: dict[str, str] = {}
    for part in match.group(2).split(","):
        key, equals, value = part.strip().partition("=")
        if not equals or not re.fullmatch(PARAMETER_NAME, key.strip()):
            raise ValueError(f"{shown(text)}: write NAME[param=value,...]")
        if key.strip() in wanted:
            raise ValueError(f"{shown(text)}: {key.strip()} is named twice")
        wanted[key.strip()] = value.strip()
    return match.group(1), wanted


def walk_strings(value: Any, path: PathKey = ()) -> Iterator[tuple[PathKey, str]]:
    """Yield every string value of a document with its path (keys are not values)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from walk_strings(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk_strings(item, (*path, index))


def describe_values(values: Mapping[str, Value]) -> str:
    """`arch=arm64,accel=gpu`: an instance's values, as selectors and the tag write them."""
    return ",".join(f"{name}={as_text(value)}" for name, value in values.items())
