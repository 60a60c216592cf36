"""What current Packer accepts, checked on a rendered template: names, types, blocks.

The spec is data in tests/fixtures/packer-spec (README.md there says where each file comes from).
python-hcl2 8.x parses the text; with its default `explicit_blocks` every block body it returns
holds `"__is_block__": True`, and repeated blocks are a list of such bodies (a labelled block
wraps its body in one single-key dict per label), while an object attribute (`name = {...}`) is a
dict without the marker and a tuple (`name = [...]`) a list of values. Literal strings come back
quoted (`'"text"'`), expressions as `'${...}'`, numbers and booleans as Python values.

Stricter than Packer in one way: cty would convert `"16"` to a number and `16` to a string;
here every value must have the type the spec names, as bakery writes typed values. A reference
(`var.x`, `local.x`) takes the type of what it names: a variable's declared type, a local's
value. Any other expression (a function call, `"${path.root}/x"`) counts as a string.

Not checked: required attributes and values (an enum's words, a duration's form), what an
expression evaluates to, names in `only`/`except`, and repeats python-hcl2 hides: it keeps the
last of two attributes of one name, and an attribute after blocks of its name replaces them
(the other order raises).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import hcl2

SPEC_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "packer-spec"
IS_BLOCK = "__is_block__"

Spec = Mapping[str, Mapping[str, Any]]  # name → {"attr": TYPE} | {"block": Spec, "list": bool}

_REFERENCE = re.compile(r"\$\{(var|local)\.([A-Za-z_][A-Za-z0-9_-]*)\}")
_COLLECTION = re.compile(r"cty\.(List|Map)\((.+)\)")
_TYPE_KEYWORDS = {"string": "cty.String", "number": "cty.Number", "bool": "cty.Bool"}


@dataclass(frozen=True)
class PackerSpec:
    """Top-level structure, each plugin's spec by kind, and the arguments core adds to them."""

    file: Spec
    plugins: Mapping[str, Spec]  # "amazon-ebs", "provisioner.shell", "post-processor.manifest", …
    core: Mapping[str, Spec]  # "provisioner", "post-processor"


@dataclass(frozen=True)
class _Scope:
    variables: Mapping[str, str | None]  # name → cty type of its `type`, None if not simple
    locals: Mapping[str, Any]
    sources: frozenset[str]  # "source.TYPE.NAME"


@cache
def load_spec(folder: Path = SPEC_DIR) -> PackerSpec:
    """Read the spec fixtures: current.json, shell-local.json, sdk-blocks.json, core.json."""

    def read(name: str) -> dict[str, Any]:
        return dict(json.loads((folder / name).read_text(encoding="utf-8")))

    plugins = {
        kind: entry["spec"]
        for name in ("current.json", "shell-local.json")
        for kind, entry in read(name).items()
    }
    # current.json leaves the SDK's key/value and name/value blocks empty; fill them in.
    sdk = read("sdk-blocks.json")
    for kind, blocks in sdk["blocks"].items():
        for dotted, type_name in blocks.items():
            *parents, name = dotted.split(".")
            spec = plugins[kind]
            for parent in parents:
                spec = spec[parent]["block"]
            spec[name]["block"] = sdk["types"][type_name]
    core = read("core.json")
    return PackerSpec(
        core["file"], plugins, {k: core[k] for k in ("provisioner", "post-processor")}
    )


def template_problems(text: str, spec: PackerSpec | None = None) -> list[str]:
    """Return what current Packer would refuse in HCL `text`, one `PATH: problem` each.

    Text python-hcl2 cannot parse raises its error: that is no finding about Packer.
    """
    options = hcl2.SerializationOptions(with_comments=False)
    parsed: dict[str, Any] = hcl2.loads(text, serialization_options=options)
    packer = spec or load_spec()
    return _body(parsed, packer.file, "", _Walk(_scope_of(parsed), packer, in_plugin=False))


def _scope_of(parsed: Mapping[str, Any]) -> _Scope:
    variables: dict[str, str | None] = {}
    for labels, body in _labelled(parsed.get("variable", []), 1):
        variables[labels[0]] = _declared_type(body.get("type"))
    found_locals = {
        name: value
        for _, body in _labelled(parsed.get("locals", []), 0)
        for name, value in body.items()
        if name != IS_BLOCK
    }
    sources = frozenset(
        ".".join(["source", *labels]) for labels, _ in _labelled(parsed.get("source", []), 2)
    )
    return _Scope(variables, found_locals, sources)


def _declared_type(expression: Any) -> str | None:
    """The cty type a `type` expression names: string, number, bool, or a list or map of one."""
    if not isinstance(expression, str):
        return None
    text = expression.removeprefix("${").removesuffix("}")
    collection = re.fullmatch(r"(list|map)\((string|number|bool)\)", text)
    if collection:
        return f"cty.{collection[1].title()}({_TYPE_KEYWORDS[collection[2]]})"
    return _TYPE_KEYWORDS.get(text)


def _labelled(entries: Any, count: int) -> list[tuple[list[str], dict[str, Any]]]:
    """The (labels, body) of each block of a list python-hcl2 gives; [] for what is not one."""
    found = []
    for entry in entries if isinstance(entries, list) else []:
        labels, body = _unwrap(entry)
        if body is not None and len(labels) == count:
            found.append((labels, body))
    return found


def _unwrap(entry: Any) -> tuple[list[str], dict[str, Any] | None]:
    """A block python-hcl2 gives: its labels (one single-key dict each) and its marked body."""
    labels: list[str] = []
    while isinstance(entry, dict) and IS_BLOCK not in entry and len(entry) == 1:
        [(label, entry)] = entry.items()
        labels.append(_unquote(label))
    if not isinstance(entry, dict) or IS_BLOCK not in entry:
        return labels, None
    return labels, entry


def _is_blocks(value: Any) -> bool:
    """Whether `value` is how python-hcl2 gives one or more blocks (not an attribute)."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(_unwrap(item)[1] is not None for item in value)
    )


@dataclass(frozen=True)
class _Walk:
    scope: _Scope
    packer: PackerSpec
    in_plugin: bool  # inside a source, provisioner or post-processor body

    def into_plugin(self) -> _Walk:
        return _Walk(self.scope, self.packer, in_plugin=True)


def _body(body: Mapping[str, Any], spec: Spec, path: str, walk: _Walk) -> list[str]:
    problems: list[str] = []
    for name, value in body.items():
        if name == IS_BLOCK:
            continue
        where = f"{path}.{name}" if path else name
        entry = spec.get(name, spec.get("*"))
        as_block = _is_blocks(value)
        if entry is None:
            problems.append(f"{where}: unknown {'block' if as_block else 'attribute'}")
        elif "attr" in entry and as_block:
            problems.append(
                f"{where}: an attribute written as a block; Packer wants `{name} = ...`"
            )
        elif "attr" in entry:
            problems += _value(value, entry["attr"], where, walk.scope)
            if name == "sources" and path.startswith("build") and isinstance(value, list):
                problems += [
                    f"{where}[{i}]: names no source block of the file: {item}"
                    for i, item in enumerate(value)
                    if isinstance(item, str) and _unquote(item) not in walk.scope.sources
                ]
        elif not as_block:
            problems.append(
                f"{where}: a block written as an attribute; Packer wants `{name} {{ }}`"
            )
        else:
            if not entry.get("list", False) and len(value) > 1:
                problems.append(f"{where}: a block Packer takes once is written {len(value)} times")
            for index, item in enumerate(value):
                indexed = len(value) > 1 or (walk.in_plugin and entry.get("list", False))
                problems += _block(item, entry, where + (f"[{index}]" if indexed else ""), walk)
    return problems


def _block(item: Any, entry: Mapping[str, Any], where: str, walk: _Walk) -> list[str]:
    wanted = len(entry.get("labels", []))
    labels, body = _unwrap(item)
    at = where + "".join(f".{label}" for label in labels)
    if body is None or len(labels) != wanted:
        return [f"{at}: a block with {len(labels)} labels; Packer wants {wanted}"]
    if "plugin" not in entry:
        return _body(body, entry["block"], at, walk)
    kind = entry["plugin"]
    name = labels[0] if kind == "source" else f"{kind}.{labels[0]}"
    if name not in walk.packer.plugins:
        return [f"{at}: no spec of {kind} {labels[0]!r} here; the check cannot vouch for it"]
    spec = {**walk.packer.core.get(kind, {}), **walk.packer.plugins[name]}
    return _body(body, spec, at, walk.into_plugin())


def _value(
    value: Any, want: str, where: str, scope: _Scope, seen: frozenset[str] = frozenset()
) -> list[str]:
    reference = _REFERENCE.fullmatch(value) if isinstance(value, str) else None
    if reference:
        kind, name = reference.groups()
        if kind == "var":
            if name not in scope.variables:
                return [f"{where}: var.{name} is not declared"]
            declared = scope.variables[name]
            if declared is None or want in (declared, "cty.DynamicPseudoType"):
                return []
            return [f"{where}: var.{name} is {declared} where {want} is wanted"]
        if name not in scope.locals:
            return [f"{where}: local.{name} is not declared"]
        if name in seen:
            return [f"{where}: local.{name} refers to itself"]
        return _value(scope.locals[name], want, where, scope, seen | {name})
    if value is None or want == "cty.DynamicPseudoType":
        return []
    collection = _COLLECTION.fullmatch(want)
    if collection and collection[1] == "List" and isinstance(value, list):
        items = [(f"{where}[{i}]", item) for i, item in enumerate(value)]
    elif collection and collection[1] == "Map" and isinstance(value, dict):
        items = [(f"{where}[{json.dumps(_unquote(k))}]", item) for k, item in value.items()]
    else:
        fits = {
            "cty.String": isinstance(value, str),
            "cty.Number": isinstance(value, int | float) and not isinstance(value, bool),
            "cty.Bool": isinstance(value, bool),
            "type": isinstance(value, str) and not value.startswith('"'),  # a type expression
        }
        return [] if fits.get(want, False) else [f"{where}: {_described(value)}; {want} wanted"]
    return [found for at, item in items for found in _value(item, collection[2], at, scope, seen)]


def _described(value: Any) -> str:
    if isinstance(value, bool):
        return f"a bool ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value})" if value.startswith('"') else f"an expression ({value})"
    if isinstance(value, list):
        return "a list"
    return "a map/object"


def _unquote(text: str) -> str:
    return str(json.loads(text)) if text.startswith('"') else text
