"""The input hash: the identity of what an image is built from, used to tell if it is up to date.

sha256 over the normalised recipe (with project defaults and tags merged in), the bytes of every
script and file it uses, the text of the templates, and the resolved source AMI id. The first
three are known when rendering (the content digest); the source AMI only when a build resolves it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from typing import Any

from bakery.config.recipe import Recipe

HASH_FORMAT = "bakery-input-v1"


def normalised_recipe(recipe: Recipe, project_tags: Mapping[str, str]) -> dict[str, Any]:
    """Return the recipe as plain data, without where its file lies."""
    data: dict[str, Any] = plain(recipe)
    # Where the file lies, and how images are kept or shared, do not change what is built.
    for key in ("file", "shareable", "keep", "max_age_days", "max_age", "axes"):
        data.pop(key)
    # What parameters, variants and names add enters only when a recipe uses them.
    for key, unset in (("family", None), ("parameters", {}), ("ami_name", None)):
        if data.get(key) == unset:
            data.pop(key)
    data["project_tags"] = dict(sorted(project_tags.items()))
    return data


def plain(value: Any) -> Any:
    """Turn frozen models into JSON-ready data; a step also names its kind."""
    if is_dataclass(value) and not isinstance(value, type):
        data = {f.name: plain(getattr(value, f.name)) for f in fields(value)}
        if type(value).__name__.endswith("Step"):
            data["kind"] = type(value).__name__
        return data
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [plain(item) for item in value]
    return value


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def content_digest(
    recipe: Recipe,
    project_tags: Mapping[str, str],
    files: Mapping[str, bytes],
    templates: Mapping[str, str],
) -> str:
    """Hash what is known before a build: recipe, used files' bytes, template texts."""
    document = {
        "format": HASH_FORMAT,
        "recipe": normalised_recipe(recipe, project_tags),
        "files": {path: sha256_hex(data) for path, data in sorted(files.items())},
        "templates": {name: sha256_hex(text.encode()) for name, text in sorted(templates.items())},
    }
    return sha256_hex(json.dumps(document, sort_keys=True, separators=(",", ":")).encode())


def input_hash(digest: str, source_ami: str) -> str:
    """Combine a content digest with the resolved source AMI id into the input hash."""
    return sha256_hex(f"{HASH_FORMAT}\n{digest}\n{source_ami}".encode())
