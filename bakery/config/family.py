"""A recipe file as the instances it declares: one per matrix combination (one for a recipe
without a matrix), each a plain recipe document with its references resolved, its `when:` steps
and overrides applied, and the marks of the file kept, so validation reports FILE:LINE:COL.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bakery.config import params as p
from bakery.config import rule_codes as rc
from bakery.config.marks import MarkedDocument, PathKey
from bakery.config.params import GivenValues, Parameter, Reference, Value
from bakery.config.paths import shown
from bakery.config.schema import (
    INSTANCE_NAME_MAX,
    INSTANCE_NAME_PATTERN,
    MATRIX_SCHEMA,
    MAX_INSTANCES,
    PARAMETERS_SCHEMA,
    VARIANTS_SCHEMA,
)
from bakery.config.schema_check import check_shape
from bakery.errors import Problem


@dataclass(frozen=True)
class Instance:
    """One instance of a recipe file: its name, its matrix values, the values of every parameter
    it uses, and its document (a plain recipe, references resolved)."""

    name: str
    family: str | None  # the declared name when the file has a matrix
    matrix: Mapping[str, Value]
    used: Mapping[str, str]
    doc: MarkedDocument


@dataclass
class _Expansion:
    doc: MarkedDocument
    declared: dict[str, Parameter]
    given: GivenValues
    region: str
    problems: list[Problem] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)  # the parameters some instance refers to


def expand(
    doc: MarkedDocument,
    project_parameters: Mapping[str, Parameter],
    given: GivenValues,
    region: str,
) -> tuple[list[Instance], list[Problem], set[str]]:
    """Return the instances of a recipe document (a mapping), what is wrong with them, and the
    names of the parameters the recipe declares (matrix keys included).

    Problems found alike for several instances are reported once; a problem that depends on an
    instance's values names the instance.
    """
    data: dict[str, Any] = doc.data
    shape: list[Problem] = []
    for key, schema in (
        ("parameters", PARAMETERS_SCHEMA),
        ("matrix", MATRIX_SCHEMA),
        ("variants", VARIANTS_SCHEMA),
    ):
        if key in data:
            view = MarkedDocument(doc.file, {key: data[key]}, doc.values, doc.keys)
            shape += check_shape(view, {"type": "object", "properties": {key: schema}})
    if shape:
        return [], shape, set()
    declared, problems = p.declarations(doc, data.get("parameters", {}), ("parameters",))
    for name in declared:
        if name in project_parameters:
            problems.append(
                doc.problem(
                    rc.PARAMETER_DECLARATION,
                    ("parameters", name),
                    f"{name} is declared in bakery.yaml ({project_parameters[name].where}); "
                    "use it without declaring it again",
                )
            )
    problems += _references_in_keys(doc, data, ())
    state = _Expansion(doc, {**project_parameters, **declared}, given, region, problems)
    family = data.get("name") if isinstance(data.get("name"), str) else None
    matrix = data.get("matrix")
    if matrix is None:
        combos: list[dict[str, Value]] = [{}]
        axes: list[str] = []
    else:
        axes, combos = _matrix(state, matrix)
    instances: list[Instance] = []
    seen: dict[str, dict[str, Value]] = {}
    for combo in combos:
        instance = _instance(state, family or "", axes, combo, matrix is not None)
        if instance is None:
            continue
        if instance.name in seen:
            state.problems.append(
                doc.problem(
                    rc.MATRIX_PROBLEM,
                    ("variants", "name") if "name" in data.get("variants", {}) else ("matrix",),
                    f"instances {p.describe_values(seen[instance.name])} and "
                    f"{p.describe_values(combo)} are both named {instance.name}; "
                    "put every matrix parameter in variants.name",
                )
            )
            continue
        seen[instance.name] = combo
        instances.append(instance)
    state.problems += _unmatched_conditions(doc, combos, state)
    state.problems += _unused_values(state, instances)
    return instances, sorted(set(state.problems)), set(declared) | set(axes)


def _matrix(
    state: _Expansion, matrix: Mapping[str, Any]
) -> tuple[list[str], list[dict[str, Value]]]:
    doc = state.doc
    size = 1
    for key, values in matrix.items():
        if key not in ("include", "exclude"):
            size *= len(values)
    size += len(matrix.get("include", ()))
    if size > MAX_INSTANCES:  # refused before it is made: a pull request could ask for billions
        state.problems.append(
            doc.problem(
                rc.MATRIX_PROBLEM,
                ("matrix",),
                f"the matrix makes up to {size} instances; at most {MAX_INSTANCES}",
            )
        )
        return [], []
    axes, combos, unused = p.combinations(matrix)
    for axis in axes:
        parameter = state.declared.get(axis)
        if parameter is None:  # a matrix key declares a string parameter of its values
            values = list(matrix[axis])
            values += [e[axis] for e in matrix.get("include", ()) if axis in e]
            mark = doc.where(("matrix", axis))
            parameter = Parameter(axis, "string", allowed=tuple(dict.fromkeys(values)),
                                  where=f"{doc.file}:{mark.line}:{mark.column}")  # fmt: skip
            state.declared[axis] = parameter
        if axis in state.given.values or f"{p.ENV_PREFIX}{axis}" in state.given.environ:
            given = state.given.values.get(axis)
            origin = given.origin if given else f"environment variable {p.ENV_PREFIX}{axis}"
            state.problems.append(
                doc.problem(
                    rc.MATRIX_PROBLEM,
                    ("matrix", axis),
                    f"{axis} is a matrix parameter, yet {origin} gives it a value; choose "
                    f"instances with '{doc.data.get('name')}[{axis}=VALUE]' instead",
                )
            )
        for index, value in enumerate(matrix[axis]):
            _, why = parameter.check(value)
            if why:
                state.problems.append(doc.problem(rc.PARAMETER_VALUE, ("matrix", axis, index), why))
    for list_key in ("include", "exclude"):
        for index, entry in enumerate(matrix.get(list_key, ())):
            for key in entry:
                if key not in axes:
                    state.problems.append(
                        doc.problem(
                            rc.UNKNOWN_PARAMETER,
                            ("matrix", list_key, index, key),
                            f"{key} is not a matrix parameter ({', '.join(axes)})",
                        )
                    )
            if list_key == "include" and set(entry) != set(axes):
                state.problems.append(
                    doc.problem(
                        rc.MATRIX_PROBLEM,
                        ("matrix", "include", index),
                        f"an include names every matrix parameter ({', '.join(axes)})",
                    )
                )
    for key, index in unused:
        state.problems.append(
            doc.problem(rc.UNMATCHED_CONDITION, ("matrix", key, index), "drops no combination")
        )
    if not combos:
        state.problems.append(
            doc.problem(rc.MATRIX_PROBLEM, ("matrix",), "the matrix leaves no instance")
        )
    if len(combos) > MAX_INSTANCES:
        state.problems.append(
            doc.problem(
                rc.MATRIX_PROBLEM,
                ("matrix",),
                f"the matrix makes {len(combos)} instances; at most {MAX_INSTANCES}",
            )
        )
        return axes, []
    if any(problem.is_error for problem in state.problems):
        return axes, []
    return axes, [{k: state.declared[k].check(v)[0] for k, v in c.items()} for c in combos]  # type: ignore[misc]


class _Resolver:
    """Resolves the references of one instance, noting the parameters it uses."""

    def __init__(self, state: _Expansion, combo: Mapping[str, Value], builtins: dict[str, str]):
        self.state, self.combo, self.builtins = state, combo, builtins
        self.used: dict[str, str] = {k: p.as_text(v) for k, v in combo.items()}
        self.problems: list[Problem] = []
        self._cache: dict[str, Value | None] = {}

    def value(self, name: str, where: PathKey) -> Value | None:
        """The value of parameter `name` for this instance; None (and a problem) if it has none."""
        doc = self.state.doc
        self.state.touched.add(name)
        if name in self.combo:
            return self.combo[name]
        parameter = self.state.declared.get(name)
        if parameter is None:
            known = sorted(self.state.declared) + sorted(p.BUILTINS)
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]}?" if close else "; declare it under parameters:"
            self.problems.append(
                doc.problem(rc.UNKNOWN_PARAMETER, where, f"unknown parameter {name}{hint}")
            )
            return None
        result: Value | None
        if name in self._cache:
            result = self._cache[name]
            if result is not None:
                self.used[name] = p.as_text(result)
            return result
        given = self.state.given.of(parameter)
        if given is not None:
            result, why = parameter.check(given.value)
            if why and given.origin.startswith("environment variable"):
                why = f"its value does not fit the declaration of {name} ({parameter.where}); " + (
                    "the value is not shown: it comes from the environment"
                )
            if why:
                if given.file is not None:
                    self.problems.append(
                        rc.PARAMETER_VALUE.at(given.file, given.line, given.column, name, why)
                    )
                else:
                    self.problems.append(
                        doc.problem(rc.PARAMETER_VALUE, where, f"{given.origin}: {why}")
                    )
        elif parameter.default is not None:
            result = parameter.default
        else:
            result = None
            self.problems.append(
                doc.problem(
                    rc.PARAMETER_MISSING,
                    where,
                    f"parameter {name} ({parameter.where}) has no value; give it with --var "
                    f"{name}=VALUE, a var file or {p.ENV_PREFIX}{name}, or declare a default",
                )
            )
        self._cache[name] = result
        if result is not None:
            self.used[name] = p.as_text(result)
        return result

    def resolve(self, text: str, where: PathKey, old: PathKey) -> Any:
        """Resolve the references of the string `text` at `old` (its path in the file)."""
        doc = self.state.doc
        kind = p.field_kind(old)
        if p._OPEN not in text:
            return text
        if kind is None:
            self.problems.append(
                doc.problem(
                    rc.REFERENCE_NOT_HERE,
                    old,
                    "this field takes no ((references)); write the value out",
                )
            )
            return text
        try:
            refs = p.references(text)
        except p.ReferenceSyntaxError as error:
            if kind != "shell":
                self.problems.append(doc.problem(rc.REFERENCE_SYNTAX, old, str(error)))
            return text
        if kind == "shell":
            named = [ref.name for ref in refs if ref.name in self.state.declared]
            if named:
                self.problems.append(
                    doc.problem(
                        rc.SHELL_REFERENCE,
                        old,
                        f"(({named[0]})) is shell arithmetic here, not substituted; pass "
                        f"{named[0]} through env: and use ${named[0].upper()}",
                    )
                )
            return text
        for ref in refs:
            build_time = ref.name in p.TAG_BUILD_BUILTINS
            allowed = p.NAME_BUILD_BUILTINS if kind == "name" else p.TAG_BUILD_BUILTINS
            if (build_time and (kind == "value" or ref.name not in allowed)) or (
                ref.name == "instance" and kind == "value"
            ):
                where_ok = (
                    "ami_name and tag values"
                    if ref.name in p.NAME_BUILD_BUILTINS or ref.name == "instance"
                    else "tag values"
                )
                self.problems.append(
                    doc.problem(
                        rc.REFERENCE_NOT_HERE,
                        old,
                        f"{ref.text} is known only when a build runs; it stands in {where_ok}"
                        if build_time
                        else f"{ref.text} stands only in {where_ok}",
                    )
                )
                return text
        # A build setting that is one reference takes the parameter's type (volume_size: ((disk)))
        override = old[:2] == ("variants", "overrides")
        setting = old[:1] == ("build",) or (override and old[3:4] == ("build",))
        if setting and len(refs) == 1 and refs[0].start == 0 and refs[0].end == len(text):
            ref = refs[0]
            if ref.name not in p.BUILTINS:
                value = self.value(ref.name, old)
                return text if value is None else value
        failed = False

        def lookup(ref: Reference) -> str | None:
            nonlocal failed
            if ref.name in p.TAG_BUILD_BUILTINS:
                return None  # kept, written canonically, for the build to fill in
            if ref.name in self.builtins:
                return self.builtins[ref.name]
            value = self.value(ref.name, old)
            if value is None:
                failed = True
                return None
            return p.as_text(value)

        result = p.substitute(text, lookup)
        if not failed and not _only_kept_references(result, refs):
            self.problems.append(
                doc.problem(
                    rc.PARAMETER_VALUE,
                    old,
                    "with its values this text holds (( that is not a reference of its own; a "
                    "value may not complete a reference",
                )
            )
            return text
        return text if failed else result


def _only_kept_references(result: str, refs: Sequence[Reference]) -> bool:
    """Whether the text a substitution made holds exactly the build-time references it kept,
    each of its own: a value may not open, close or complete one (`x(` before `(build_id))`)."""
    kept = [ref.name for ref in refs if ref.name in p.TAG_BUILD_BUILTINS]
    try:
        found = p.references(result)
    except p.ReferenceSyntaxError:
        return False
    opens = sum(result.startswith(p._OPEN, index) for index in range(len(result)))
    return [ref.name for ref in found] == kept and opens == len(kept)


def _instance(
    state: _Expansion, family: str, axes: list[str], combo: dict[str, Value], is_family: bool
) -> Instance | None:
    doc = state.doc
    data: dict[str, Any] = doc.data
    builtins = {"recipe": family, "layer": str(data.get("layer", "")), "build_region": state.region}
    resolver = _Resolver(state, combo, builtins)
    version = data.get("version")
    if isinstance(version, str):
        builtins["version"] = str(resolver.resolve(version, ("version",), ("version",)))
    name = family
    variants = data.get("variants", {})
    if "name" in variants:
        name = str(resolver.resolve(variants["name"], ("variants", "name"), ("variants", "name")))
    elif is_family:
        name = p.instance_name(family, axes, combo)
    if is_family and (
        len(name) > INSTANCE_NAME_MAX or not re.fullmatch(INSTANCE_NAME_PATTERN, name)
    ):
        where: PathKey = ("variants", "name") if "name" in variants else ("matrix",)
        resolver.problems.append(
            doc.problem(
                rc.INSTANCE_NAME,
                where,
                f"instance name {shown(name)} is not lowercase letters, digits, . _ and - "
                f"(at most {INSTANCE_NAME_MAX}, no ..); change variants.name",
            )
        )
    builtins["instance"] = name
    # Build the instance's data, noting for each of its paths the path in the file.
    origin: dict[PathKey, PathKey] = {}
    body = {k: v for k, v in data.items() if k not in p.FAMILY_KEYS}
    instance_data = _copy(body, (), (), origin)
    values_now: dict[str, Value] = dict(combo)

    def holds(when: Mapping[str, Any], where: PathKey) -> bool:
        for key in when:
            if key not in values_now:
                value = resolver.value(key, (*where, key))
                if value is None:
                    return False
                values_now[key] = value
            resolver.used[key] = p.as_text(values_now[key])
        return p.matches(when, values_now)

    for index, override in enumerate(variants.get("overrides", ())):
        where = ("variants", "overrides", index)
        if holds(override["when"], (*where, "when")):
            for key, value in override.items():
                if key != "when":
                    _merge(instance_data, key, value, (*where, key), origin)
    steps = instance_data.get("provision")
    if isinstance(steps, list):
        kept: list[Any] = []
        kept_origin: dict[PathKey, PathKey] = {}
        for index, step in enumerate(steps):
            when = step.get("when") if isinstance(step, dict) else None
            if isinstance(when, dict) and not holds(when, ("provision", index, "when")):
                continue
            if isinstance(step, dict) and isinstance(when, dict):
                step.pop("when")  # a `when:` of the wrong shape stays for the schema to refuse
            new_index = len(kept)
            for new, old in origin.items():
                if new[:2] == ("provision", index):
                    kept_origin[("provision", new_index, *new[2:])] = old
            kept.append(step)
        origin = {k: v for k, v in origin.items() if k[:1] != ("provision",) or len(k) == 1}
        origin.update(kept_origin)
        instance_data["provision"] = kept
    instance_data = _resolve_all(instance_data, (), origin, resolver)
    order = list(combo)
    used = dict(
        sorted(
            resolver.used.items(),
            key=lambda item: (order.index(item[0]) if item[0] in combo else len(order), item[0]),
        )
    )
    state.problems += resolver.problems
    values = {new: doc.values[old] for new, old in origin.items() if old in doc.values}
    keys = {new: doc.keys[old] for new, old in origin.items() if old in doc.keys}
    instance_doc = MarkedDocument(doc.file, instance_data, values, keys)
    if any(problem.is_error for problem in resolver.problems):
        return None
    return Instance(name, family if is_family else None, combo, used, instance_doc)


def _copy(value: Any, new: PathKey, old: PathKey, origin: dict[PathKey, PathKey]) -> Any:
    origin[new] = old
    if isinstance(value, dict):
        return {k: _copy(v, (*new, k), (*old, k), origin) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v, (*new, i), (*old, i), origin) for i, v in enumerate(value)]
    return copy.copy(value)


def _merge(
    target: dict[str, Any],
    key: str,
    value: Any,
    old: PathKey,
    origin: dict[PathKey, PathKey],
    prefix: PathKey = (),
) -> None:
    """Merge an override's `value` into `target[key]`: mappings merge, the rest replaces."""
    here = (*prefix, key)
    if isinstance(value, dict) and isinstance(target.get(key), dict):
        for sub, item in value.items():
            _merge(target[key], sub, item, (*old, sub), origin, here)
        return
    for path in [path for path in origin if path[: len(here)] == here]:
        del origin[path]
    target[key] = _copy(value, here, old, origin)


def _resolve_all(
    value: Any, new: PathKey, origin: Mapping[PathKey, PathKey], resolver: _Resolver
) -> Any:
    if isinstance(value, str):
        return resolver.resolve(value, new, origin.get(new, new))
    if isinstance(value, dict):
        return {k: _resolve_all(v, (*new, k), origin, resolver) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_all(v, (*new, i), origin, resolver) for i, v in enumerate(value)]
    return value


def _unmatched_conditions(
    doc: MarkedDocument, combos: list[dict[str, Value]], state: _Expansion
) -> list[Problem]:
    """Warn of a step or override whose `when:` names only matrix parameters yet holds for no
    instance (a condition on other parameters depends on the values given, not the recipe)."""
    found: list[Problem] = []
    conditions: list[tuple[PathKey, Mapping[str, Any]]] = []
    for index, step in enumerate(doc.data.get("provision") or ()):
        if isinstance(step, dict) and isinstance(step.get("when"), dict):
            conditions.append((("provision", index, "when"), step["when"]))
    for index, override in enumerate(doc.data.get("variants", {}).get("overrides", ())):
        conditions.append((("variants", "overrides", index, "when"), override["when"]))
    for where, when in conditions:
        for key, wanted in when.items():
            parameter = state.declared.get(key)
            if parameter is None:
                continue
            for value in wanted if isinstance(wanted, list) else [wanted]:
                if parameter.allowed and value not in parameter.allowed:
                    choices = ", ".join(p.as_text(v) for v in parameter.allowed)
                    found.append(
                        doc.problem(
                            rc.PARAMETER_VALUE,
                            (*where, key),
                            f"{key} is one of {choices}; {shown(p.as_text(value))} never holds",
                        )
                    )
        if (
            combos
            and all(key in combos[0] for key in when)
            and not any(p.matches(when, combo) for combo in combos)
        ):
            found.append(doc.problem(rc.UNMATCHED_CONDITION, where, "applies to no instance"))
    return found


def _references_in_keys(doc: MarkedDocument, value: Any, path: PathKey) -> list[Problem]:
    """A key is never substituted: a `((` in one is refused (tag keys, environment names)."""
    found: list[Problem] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and p._OPEN in key:
                found.append(
                    doc.problem(
                        rc.REFERENCE_NOT_HERE,
                        (*path, key),
                        "a key takes no ((references)); write it out",
                    )
                )
            found += _references_in_keys(doc, item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _references_in_keys(doc, item, (*path, index))
    return found


def _unused_values(state: _Expansion, instances: list[Instance]) -> list[Problem]:
    """Check the values given for parameters no instance uses, as those it uses are checked:
    a wrong value is an error even where it changes nothing."""
    used = state.touched | {name for instance in instances for name in instance.used}
    found: list[Problem] = []
    for name, parameter in state.declared.items():
        given = state.given.of(parameter)
        if name in used or given is None:
            continue
        _, why = parameter.check(given.value)
        if why is None:
            continue
        if given.origin.startswith("environment variable"):
            why = f"{given.origin}: its value does not fit {name} (not shown: from the environment)"
        elif given.file is None:
            why = f"{given.origin}: {why}"
        file, line, column = given.file, given.line, given.column
        if file is None:
            file, line_text, column_text = parameter.where.rsplit(":", 2)
            line, column = int(line_text), int(column_text)
        found.append(rc.PARAMETER_VALUE.at(file, line, column, name, why))
    return found
