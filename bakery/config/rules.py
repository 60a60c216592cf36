"""Rules a schema cannot say: files, owners, tag budget, encryption, names across recipes, and
the ignored rules of bakery.yaml. Each finding names its rule of bakery.config.rule_codes."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from bakery.config import rule_codes as rc
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
            rc.ABSOLUTE_PATH, where, f"absolute path {raw}; write it relative to the recipe file"
        )
    target = (recipe_file.parent / raw).resolve()
    if not target.is_relative_to(root):
        return None, doc.problem(
            rc.PATH_OUTSIDE, where, f"path {raw} leaves the project folder; keep files inside it"
        )
    if not target.exists():
        return None, doc.problem(rc.FILE_NOT_FOUND, where, f"file not found: {raw}")
    if not target.is_file():
        return None, doc.problem(rc.NOT_A_FILE, where, f"not a file: {raw}; name a single file")
    return target.relative_to(root).as_posix(), None


def recipe_problems(
    recipe: Recipe,
    doc: MarkedDocument,
    trusted_owners: tuple[str, ...],
    project_tags: Mapping[str, str],
) -> Iterator[Problem]:
    """Yield what is wrong with one recipe on its own."""
    if recipe.hygiene.skip and not recipe.hygiene.reason:
        yield doc.problem(
            rc.HYGIENE_REASON, ("hygiene", "skip"), 'skip: true needs reason: "..." saying why'
        )
    if recipe.source.kind == "filter":
        for index, owner in enumerate(recipe.source.owners):
            if owner not in trusted_owners:
                yield doc.problem(
                    rc.UNTRUSTED_OWNER,
                    ("source", "filter", "owners", index),
                    f"owner {owner} is not in trusted_owners of bakery.yaml; add it there if "
                    "you trust its images",
                )
    placeholders = dict.fromkeys(BUILD_TAG_VARIABLES.values(), "")
    count = len(image_tags(recipe, project_tags, placeholders, ""))
    if count > MAX_TAGS:
        yield doc.problem(
            rc.TAG_BUDGET,
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
                rc.GO_TEMPLATE,
                where,
                "contains '{{', which Packer would evaluate as a template; remove it",
            )


def _distribution_problems(recipe: Recipe, doc: MarkedDocument) -> Iterator[Problem]:
    dist, build = recipe.distribute, recipe.build
    if recipe.region in dist.regions:
        index = dist.regions.index(recipe.region)
        yield doc.problem(
            rc.BUILD_REGION_COPY,
            ("distribute", "regions", index),
            f"{recipe.region} is the build region already; list only the regions to copy to",
        )
    for region in dist.kms_key_ids:
        if region not in dist.regions:
            yield doc.problem(
                rc.KMS_REGION_UNLISTED,
                ("distribute", "kms_key_ids", region),
                f"{region} is not in distribute.regions; add it there or drop its key",
            )
    if dist.kms_key_ids and not build.encrypted:
        yield doc.problem(
            rc.KMS_KEYS_UNENCRYPTED,
            ("distribute", "kms_key_ids"),
            "keys given but build.encrypted is false; set it true",
        )
    if build.kms_key_id and not build.encrypted:
        yield doc.problem(
            rc.KMS_KEY_UNENCRYPTED,
            ("build", "kms_key_id"),
            "set build.encrypted: true to use a KMS key",
        )
    if build.encrypted and dist.accounts and not build.kms_key_id:
        yield doc.problem(
            rc.SHARE_DEFAULT_KEY,
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
                rc.DUPLICATE_NAME,
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
            yield doc.problem(
                rc.UNKNOWN_PARENT, ("source", "recipe"), f"unknown recipe {parent}{hint}"
            )
    parents = {name: pair[0].parent for name, pair in by_name.items()}
    for cycle in find_cycles(parents):
        chain = " → ".join(cycle)
        for name in cycle[:-1]:
            _, doc = by_name[name]
            yield doc.problem(
                rc.CYCLE,
                ("source", "recipe"),
                f"cycle in the recipe graph: {chain}; "
                "each recipe must build on one earlier in the chain",
            )


def ignore_problems(doc: MarkedDocument) -> Iterator[Problem]:
    """Yield what is wrong with `rules.ignore` of a schema-valid bakery.yaml."""
    first: dict[str, int] = {}
    for index, entry in enumerate(doc.data.get("rules", {}).get("ignore", [])):
        code, where = entry["code"], ("rules", "ignore", index, "code")
        rule = rc.RULES_BY_CODE.get(code)
        if rule is None:
            warnings = [known.code for known in rc.RULES if not known.is_error]
            close = difflib.get_close_matches(code, warnings, n=1)
            hint = f"did you mean {close[0]}?" if close else "`bakery rules` lists them"
            yield doc.problem(
                rc.UNKNOWN_IGNORED_CODE, where, f"no rule has the code {code}; {hint}"
            )
        elif rule.is_error:
            yield doc.problem(
                rc.ERROR_IGNORED,
                where,
                f"{code} ({rule.title}) is an error and cannot be ignored; only warnings can",
            )
        elif code in first:
            yield doc.problem(
                rc.DUPLICATE_IGNORE,
                where,
                f"{code} is ignored already at rules.ignore[{first[code]}]; keep one entry",
            )
        else:
            first[code] = index
