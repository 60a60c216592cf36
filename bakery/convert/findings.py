"""What `bakery convert` could not map, or mapped with a change: each with the template's FILE:LINE
and where in the recipe its comment stands."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from bakery.convert.template import Where
from bakery.errors import printable

FindingKind = Literal["not mapped", "changed"]

# Where a finding's comment goes in a recipe: above a top-level key, above a step, at the end.
Anchor = str  # "top", "parameters", "source", "build", "distribute", "tags", "ami_name",
# "provision", "provision:INDEX" (the step's index in the recipe's provision list), "end"

# A comment is one line: besides what `printable` escapes, YAML refuses these characters
# anywhere in a file (the BOM, surrogates, U+FFFE and U+FFFF), so they are escaped too.
_UNYAML = re.compile("[\ufeff\ud800-\udfff\ufffe\uffff]")


def one_line(text: str) -> str:
    """Return `text` as one printable line: line breaks and control characters escaped."""
    escaped = printable(text).replace("\n", "\\n").replace("\t", "\\t")
    return _UNYAML.sub(lambda found: ascii(found.group())[1:-1], escaped)


@dataclass(frozen=True)
class Finding:
    """A setting of the template with no recipe equivalent (`not mapped`), or one mapped with a
    difference a reader should know of (`changed`)."""

    where: Where
    setting: str  # `source "amazon-ebs" "x86_64": ami_groups`, `provisioner 3 "shell": only`
    message: str
    kind: FindingKind = "not mapped"
    recipe: str | None = None  # the recipe whose file holds its comment (None: every one)
    anchor: Anchor = "end"

    def __str__(self) -> str:
        """The line printed on stderr: FILE:LINE: KIND: SETTING: MESSAGE, escaped."""
        return one_line(f"{self.where}: {self.kind}: {self.setting}: {self.message}")

    @property
    def comment(self) -> str:
        """The comment left in the recipe (without the `# `). The setting and the message are
        apart by ` -- `, not `:`, so that `PASSWORD -- why` never reads as an assignment to the
        secret scan of the recipe (bakery.config.secrets)."""
        return one_line(f"{self.kind} ({self.where}): {self.setting} -- {self.message}")

    def placed(self, recipe: str | None, anchor: Anchor) -> Finding:
        return Finding(self.where, self.setting, self.message, self.kind, recipe, anchor)
