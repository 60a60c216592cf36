"""Rules a schema cannot say: files, owners, tag budget, encryption, names across recipes."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from bakery.config.graph import find_cycles
from bakery.config.marks import MarkedDocument, PathKey
from bakery.config.recipe import Recipe
from bakery.config.schema import MAX_TAGS
from bakery.config.tags import BUILD_TAG_VARIABLES, image_tags
from bakery.errors import Problem

GO_TEMPLATE = "{{"


def resolve_path(
    raw: str, recipe_file: Path, root: Path, where: PathKey, doc: MarkedDocument
) -> tuple[str | None, Problem | None]:
    """Map a recipe path to a project-relative one, or say why it cannot be used."""
    if PurePosixPath(raw).is_absolute() or Path(raw).is_absolute():
        return None, doc.problem(
            where, f"absolute path {raw}; write it relative to the recipe file"
        )
    target = (recipe_file.parent / raw).resolve()
    if not target.is_relative_to(root):
        return None, doc.problem(
            where, f"path {raw} leaves the project folder; keep files inside it"
        )
    if not target.exists():
        return None, doc.problem(where, f"file not found: {raw}")
    if not target.is_file():
        return None, doc.problem(where, f"not a file: {raw}; name a single file")
    return target.relative_to(root).as_posix(), None


def recipe_problems(
    recipe: Recipe,
    doc: MarkedDocument,
    trusted_owners: tuple[str, ...],
    project_tags: Mapping[str, str],
) -> Iterator[Problem]:
    """Yield what is wrong with one recipe on its own."""
    if recipe.hygiene.skip and not recipe.hygiene.reason:
        yield doc.problem(("hygiene", "skip"), 'skip: true needs reason: "..." saying why')
    if recipe.source.kind == "filter":
        for index, owner in enumerate(recipe.source.owners):
            if owner not in trusted_owners:
                yield doc.problem(
                    ("source", "filter", "owners", index),
                    f"owner {owner} is not in trusted_owners of bakery.yaml; add it there if "
                    "you trust its images",
                )
    placeholders = dict.fromkeys(BUILD_TAG_VARIABLES.values(), "")
    count = len(image_tags(recipe, project_tags, placeholders, ""))
    if count > MAX_TAGS:
        yield doc.problem(
            ("tags",),
            f"the image would carry {count} tags with bakery's and bakery.yaml's; "
            f"AWS allows {MAX_TAGS}, remove {count - MAX_TAGS}",
        )
    yield from _go_template_problems(doc)
    yield from _distribution_problems(recipe, doc)


def _go_template_problems(doc: MarkedDocument) -> Iterator[Problem]:
    # Packer evaluates `{{ ... }}` as a Go template in these fields, even in HCL2 files.
    data: dict[str, Any] = doc.data
    fields: list[tuple[PathKey, Any]] = [(("description",), data.get("description"))]
    fields += [(("hygiene", "reason"), data.get("hygiene", {}).get("reason"))]
    for key, value in data.get("tags", {}).items():
        fields += [(("tags", key), key), (("tags", key), value)]
    for index, step in enumerate(data.get("provision", [])):
        if isinstance(step.get("file"), dict):
            fields.append(
                (("provision", index, "file", "destination"), step["file"].get("destination"))
            )
    for where, value in fields:
        if isinstance(value, str) and GO_TEMPLATE in value:
            yield doc.problem(
                where, "contains '{{', which Packer would evaluate as a template; remove it"
            )


def _distribution_problems(recipe: Recipe, doc: MarkedDocument) -> Iterator[Problem]:
    dist, build = recipe.distribute, recipe.build
    if recipe.region in dist.regions:
        index = dist.regions.index(recipe.region)
        yield doc.problem(
            ("distribute", "regions", index),
            f"{recipe.region} is the build region already; list only the regions to copy to",
        )
    for region in dist.kms_key_ids:
        if region not in dist.regions:
            yield doc.problem(
                ("distribute", "kms_key_ids", region),
                f"{region} is not in distribute.regions; add it there or drop its key",
            )
    if dist.kms_key_ids and not build.encrypted:
        yield doc.problem(
            ("distribute", "kms_key_ids"), "keys given but build.encrypted is false; set it true"
        )
    if build.kms_key_id and not build.encrypted:
        yield doc.problem(("build", "kms_key_id"), "set build.encrypted: true to use a KMS key")
    if build.encrypted and dist.accounts and not build.kms_key_id:
        yield doc.problem(
            ("distribute", "accounts"),
            "an image encrypted with the default KMS key cannot be shared; set build.kms_key_id "
            "to a customer managed key the accounts may use",
        )


def catalog_problems(
    recipes: list[tuple[Recipe, MarkedDocument]], known_names: Mapping[str, str]
) -> Iterator[Problem]:
    """Yield what is wrong between recipes: duplicate names, unknown parents, cycles.

    `known_names` maps every recipe name found (also in files not checked now) to its file.
    """
    first_file: dict[str, str] = {}
    for recipe, doc in recipes:
        if recipe.name in first_file:
            yield doc.problem(
                ("name",),
                f"duplicate recipe name {recipe.name} (also in {first_file[recipe.name]});"
                " names must be unique",
            )
        else:
            first_file[recipe.name] = recipe.file
    by_name = {recipe.name: (recipe, doc) for recipe, doc in recipes}
    for recipe, doc in recipes:
        parent = recipe.parent
        if parent is not None and parent not in known_names:
            close = difflib.get_close_matches(parent, list(known_names), n=1)
            hint = f"; did you mean {close[0]}?" if close else "; no recipe has that name"
            yield doc.problem(("source", "recipe"), f"unknown recipe {parent}{hint}")
    parents = {name: pair[0].parent for name, pair in by_name.items()}
    for cycle in find_cycles(parents):
        chain = " → ".join(cycle)
        for name in cycle[:-1]:
            _, doc = by_name[name]
            yield doc.problem(
                ("source", "recipe"),
                f"cycle in the recipe graph: {chain}; "
                "each recipe must build on one earlier in the chain",
            )
