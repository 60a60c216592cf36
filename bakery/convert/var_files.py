"""Packer variable files (`*.pkrvars.hcl`, JSON var files) read into name = value entries."""

from __future__ import annotations

from dataclasses import dataclass

from bakery.convert.hcl_reader import read_hcl_values
from bakery.convert.json_reader import read_json
from bakery.convert.template import Body, Entry
from bakery.errors import BakeryError


@dataclass(frozen=True)
class VarFile:
    """A var file's text, as the command read it: `auto` for the *.auto.pkrvars.* files Packer
    loads by itself from the template's folder."""

    file: str  # as messages name it
    text: str
    auto: bool = False


def read_var_file(var_file: VarFile) -> list[Entry]:
    """The values a var file gives, in order (JSON when it is named *.json, else HCL)."""
    if var_file.file.endswith(".json"):
        top = read_json(var_file.text, var_file.file)
        if not isinstance(top, Body):
            raise BakeryError(f"{var_file.file}:1:1: a JSON var file is an object of name: value")
        return list(top.entries)
    return read_hcl_values(var_file.text, var_file.file)
