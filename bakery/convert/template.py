"""A Packer template as plain values, the same for HCL2 and legacy JSON: blocks, attributes and
values, each with the FILE:LINE:COLUMN it stands at. Nothing here is evaluated: an expression is
kept as its text, a string as its literal parts and interpolations."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, order=True)
class Where:
    """Where something stands in a template or var file (1-based line and column)."""

    file: str
    line: int
    column: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Interpolation:
    """A `${ ... }` of HCL, a `%{ ... }` directive, or a `{{ ... }}` Go template, as its text."""

    code: str
    dialect: Literal["hcl", "directive", "go"]


Part = str | Interpolation


@dataclass(frozen=True)
class Text:
    """A string: literal parts (escapes decoded) and interpolations, in order."""

    parts: tuple[Part, ...]
    where: Where

    @property
    def literal(self) -> str | None:
        """The string when it holds no interpolation, else None."""
        if all(isinstance(part, str) for part in self.parts):
            return "".join(part for part in self.parts if isinstance(part, str))
        return None


@dataclass(frozen=True)
class Scalar:
    """A number, a boolean or null."""

    value: int | float | bool | None
    where: Where


@dataclass(frozen=True)
class Expression:
    """An HCL expression that is not a string (`var.size`, `local.x`, a function call)."""

    code: str
    where: Where


@dataclass(frozen=True)
class Items:
    """A list (HCL tuple, JSON array)."""

    items: tuple[Value, ...]
    where: Where


@dataclass(frozen=True)
class Entry:
    """An attribute, an object's key, or a nested block (then its value is a block Body)."""

    key: str
    value: Value
    where: Where
    labels: tuple[str, ...] = ()  # a nested block's labels: provisioner "shell"


@dataclass(frozen=True)
class Body:
    """An object or a block's body: entries in order (a block type may repeat)."""

    entries: tuple[Entry, ...]
    where: Where
    block: bool = False

    def get(self, key: str) -> Value | None:
        """The value of the first entry named `key`."""
        for entry in self.entries:
            if entry.key == key:
                return entry.value
        return None

    def entry(self, key: str) -> Entry | None:
        for entry in self.entries:
            if entry.key == key:
                return entry
        return None

    def names(self) -> list[str]:
        return list(dict.fromkeys(entry.key for entry in self.entries))

    def blocks(self, key: str) -> list[Body]:
        """The bodies under `key`: repeated HCL blocks, or a JSON object or list of objects."""
        found: list[Body] = []
        for entry in self.entries:
            if entry.key != key:
                continue
            if isinstance(entry.value, Body):
                found.append(entry.value)
            elif isinstance(entry.value, Items):
                found.extend(item for item in entry.value.items if isinstance(item, Body))
        return found


Value = Text | Scalar | Expression | Items | Body


@dataclass(frozen=True)
class Block:
    """A top-level or build-level block: `source "amazon-ebs" "x"`, `provisioner "shell"`."""

    type: str
    labels: tuple[str, ...]
    body: Body
    where: Where

    @property
    def title(self) -> str:
        """How messages name the block: `source "amazon-ebs" "x86_64"`."""
        return " ".join([self.type, *(f'"{label}"' for label in self.labels)])


@dataclass(frozen=True)
class Variable:
    """A Packer variable: its declared type, default, description and whether it is sensitive."""

    name: str
    type: str | None
    default: Value | None
    description: str | None
    sensitive: bool
    where: Where
    body: Body


@dataclass(frozen=True)
class SourceUse:
    """A source a build uses: `source.amazon-ebs.x86_64`, maybe with settings of its own."""

    builder: str  # amazon-ebs
    name: str
    where: Where
    settings: Body | None = None  # `source "source.amazon-ebs.x" { ... }` inside the build
    rename: str | None = None  # its `name = "..."` there


@dataclass(frozen=True)
class Build:
    """A build block (HCL2) or the whole of a JSON template."""

    name: str | None
    sources: tuple[SourceUse, ...]
    provisioners: tuple[Block, ...]
    post_processors: tuple[Block, ...]
    where: Where
    others: tuple[Entry, ...] = ()  # other entries of the build block (error-cleanup-provisioner)


@dataclass(frozen=True)
class Template:
    """One template: variables, locals, sources, builds, data sources, and what else it holds."""

    file: str
    dialect: Literal["hcl", "json"]
    variables: tuple[Variable, ...] = ()
    locals: tuple[Entry, ...] = ()
    sources: tuple[Block, ...] = ()
    builds: tuple[Build, ...] = ()
    data: tuple[Block, ...] = ()
    others: tuple[Entry, ...] = field(default_factory=tuple)  # top-level entries not understood

    def source(self, builder: str, name: str) -> Block | None:
        for block in self.sources:
            if block.labels == (builder, name):
                return block
        return None

    def local(self, name: str) -> Entry | None:
        for entry in self.locals:
            if entry.key == name:
                return entry
        return None


def merged(templates: list[Template]) -> Template:
    """The files of one template folder as Packer reads them: one template of all their blocks
    (each keeps its own file and lines)."""
    first = templates[0]
    if len(templates) == 1:
        return first
    return Template(
        first.file,
        first.dialect,
        tuple(v for t in templates for v in t.variables),
        tuple(e for t in templates for e in t.locals),
        tuple(b for t in templates for b in t.sources),
        tuple(b for t in templates for b in t.builds),
        tuple(b for t in templates for b in t.data),
        tuple(e for t in templates for e in t.others),
    )
