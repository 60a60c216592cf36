"""Rules a schema cannot say: files, owners, tag budget, encryption, names across recipes, and
the ignored rules of bakery.yaml. Each finding names its rule of bakery.config.rule_codes."""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from bakery.config import rule_codes as rc
from bakery.config.graph import find_cycles
from bakery.config.marks import MarkedDocument, PathKey
from bakery.config.params import has_unique_part, longest_build_value, substitute
from bakery.config.paths import has_control, is_regular_file, shown
from bakery.config.recipe import Recipe, TreeFile
from bakery.config.schema import (
    AMI_NAME_MAX,
    AMI_NAME_PATTERN,
    AWS_MANAGED_KEY_PATTERN,
    MAX_TAGS,
)
from bakery.config.tags import BUILD_TAG_VARIABLES, TAG_VALUE_MAX, image_tags
from bakery.errors import Problem

AMI_TIMESTAMP_DIGITS = 14  # YYYYMMDDhhmmss, var.build_timestamp of the template


def resolve_path(
    raw: str, recipe_file: Path, root: Path, where: PathKey, doc: MarkedDocument
) -> tuple[str | None, Problem | None]:
    """Map a recipe path to a project-relative one, or say why it cannot be used.

    The path must name a regular file inside the project once its symbolic links are resolved;
    it is checked without opening it (a FIFO or a device would hang the read).
    """
    if has_control(raw):
        return None, doc.problem(
            rc.CONTROL_IN_PATH,
            where,
            f"path {shown(raw)} holds a control character; rename the file",
        )
    if PurePosixPath(raw).is_absolute() or Path(raw).is_absolute():
        return None, doc.problem(
            rc.ABSOLUTE_PATH, where, f"absolute path {raw}; write it relative to the recipe file"
        )
    try:
        target = (recipe_file.parent / raw).resolve()
    except (OSError, RuntimeError):  # a loop of symbolic links
        return None, doc.problem(rc.FILE_NOT_FOUND, where, f"file not found: {raw}")
    if not target.is_relative_to(root):
        return None, doc.problem(
            rc.PATH_OUTSIDE, where, f"path {raw} leaves the project folder; keep files inside it"
        )
    if not target.exists():
        return None, doc.problem(rc.FILE_NOT_FOUND, where, f"file not found: {raw}")
    if not is_regular_file(target):
        return None, doc.problem(rc.NOT_A_FILE, where, f"not a file: {raw}; name a single file")
    relative = target.relative_to(root).as_posix()
    if has_control(relative):  # a symbolic link to a file whose name holds one
        return None, doc.problem(
            rc.CONTROL_IN_PATH,
            where,
            f"path {raw} leads to {shown(relative)}, which holds a control character; "
            "rename the file",
        )
    return relative, None


# An uploaded folder: at most this many files and bytes (it goes up as one archive).
TREE_MAX_FILES = 50_000
TREE_MAX_BYTES = 2 << 30


def resolve_upload(
    raw: str, recipe_file: Path, root: Path, where: PathKey, doc: MarkedDocument, folder_ok: bool
) -> tuple[str | None, tuple[TreeFile, ...], bool, Problem | None]:
    """Map an uploaded path to (project-relative path, its files with their modes, is a
    folder), or say why it cannot be used. A folder's files are every regular file under it;
    a symbolic link inside is followed only while it stays in the folder, anything else that is
    not a regular file is refused, and nothing is opened (a FIFO would hang the read)."""
    import os

    if folder_ok and not has_control(raw) and not PurePosixPath(raw).is_absolute():
        try:
            target = (recipe_file.parent / raw).resolve()
        except (OSError, RuntimeError):
            target = None
        if target is not None and target.is_relative_to(root) and target.is_dir():
            named = Path(os.path.normpath(recipe_file.parent / raw)).name
            return _tree(raw, target, root, where, doc, named)
    relative, problem = resolve_path(raw, recipe_file, root, where, doc)
    if relative is None:
        return None, (), False, problem
    mode = 0o755 if os.stat(root / relative).st_mode & 0o111 else 0o644
    if raw.endswith("/"):
        return (
            None,
            (),
            False,
            doc.problem(rc.NOT_A_FILE, where, f"{raw} ends in / but is a file; drop the /"),
        )
    # It lands under the name the recipe gives, as Packer's upload would, not a link's target's.
    name = Path(os.path.normpath(recipe_file.parent / raw)).name
    return relative, (TreeFile(relative, name, mode),), False, None


def _tree(
    raw: str, folder: Path, root: Path, where: PathKey, doc: MarkedDocument, named: str
) -> tuple[str | None, tuple[TreeFile, ...], bool, Problem | None]:
    import os

    relative = folder.relative_to(root).as_posix()
    # Like Packer's file provisioner: `dir/` uploads what the folder holds, `dir` the folder.
    prefix = "" if raw.endswith("/") else named + "/"
    found: list[TreeFile] = []
    total = 0
    for current, dirs, names in os.walk(folder, followlinks=False):
        dirs.sort()
        here = Path(current)
        for name in sorted([*names, *[d for d in dirs if (here / d).is_symlink()]]):
            path = here / name
            inside = path.relative_to(folder).as_posix()
            if has_control(inside):
                return (
                    None,
                    (),
                    False,
                    doc.problem(
                        rc.CONTROL_IN_PATH,
                        where,
                        f"{raw} holds {shown(inside)}, whose name holds a control character; "
                        "rename it",
                    ),
                )
            try:
                real = path.resolve()
            except (OSError, RuntimeError):
                real = path
            if not real.is_relative_to(folder):
                return (
                    None,
                    (),
                    False,
                    doc.problem(
                        rc.UPLOAD_TREE,
                        where,
                        f"{raw}: {inside} is a symbolic link leading out of the folder; "
                        "replace it with the file",
                    ),
                )
            if not is_regular_file(real):
                return (
                    None,
                    (),
                    False,
                    doc.problem(
                        rc.UPLOAD_TREE,
                        where,
                        f"{raw}: {inside} is not a regular file (a link to a folder, a FIFO, a "
                        "device); remove it from the folder",
                    ),
                )
            info = real.stat()
            total += info.st_size
            mode = 0o755 if info.st_mode & 0o111 else 0o644
            found.append(TreeFile(real.relative_to(root).as_posix(), prefix + inside, mode))
            if len(found) > TREE_MAX_FILES or total > TREE_MAX_BYTES:
                return (
                    None,
                    (),
                    False,
                    doc.problem(
                        rc.UPLOAD_TREE,
                        where,
                        f"{raw} holds more than {TREE_MAX_FILES} files or 2 GiB; upload less, or "
                        "fetch big content in a step",
                    ),
                )
    if not found:
        return (
            None,
            (),
            False,
            doc.problem(
                rc.UPLOAD_TREE, where, f"{raw} is an empty folder; nothing would be uploaded"
            ),
        )
    return relative, tuple(found), True, None


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
    # `{{` in strings that reach Packer is refused by the schema (NO_TEMPLATE_PATTERN).
    yield from _ami_name_problems(recipe, doc)
    yield from _tag_value_problems(recipe, doc)
    yield from _distribution_problems(recipe, doc)


def _ami_name_problems(recipe: Recipe, doc: MarkedDocument) -> Iterator[Problem]:
    if recipe.ami_name is not None:
        yield from _template_name_problems(recipe, doc)
        return
    # The template names the image NAME-VERSION-TIMESTAMP (bakery.render.build_folder.ami_name).
    longest = f"{recipe.name}-{recipe.version.replace('+', '_')}-{'9' * AMI_TIMESTAMP_DIGITS}"
    where: PathKey = ("version",) if recipe.family is None else ("matrix",)
    if len(longest) > AMI_NAME_MAX:
        yield doc.problem(
            rc.AMI_NAME_TOO_LONG,
            where,
            f"the AMI name NAME-VERSION-TIMESTAMP would be {len(longest)} characters long; EC2 "
            f"allows {AMI_NAME_MAX}: shorten the name or the version by "
            f"{len(longest) - AMI_NAME_MAX}, or set ami_name",
        )
    elif not re.fullmatch(AMI_NAME_PATTERN, longest):
        yield doc.problem(
            rc.AMI_NAME_TOO_LONG,
            ("name",),
            "the AMI name NAME-VERSION-TIMESTAMP would hold characters EC2 does not allow",
        )


def _template_name_problems(recipe: Recipe, doc: MarkedDocument) -> Iterator[Problem]:
    """An `ami_name` template: unique per build, and within EC2's rules at its longest."""
    template = recipe.ami_name or ""
    if not has_unique_part(template):
        yield doc.problem(
            rc.AMI_NAME_NOT_UNIQUE,
            ("ami_name",),
            "two builds could make the same name; add ((timestamp)), ((build_id)) or "
            "((build_time:FORMAT)) naming the year, day, hour, minute and second (e.g. "
            "%Y%m%d%H%M%S)",
        )
    longest = substitute(template, longest_build_value)
    shortest = substitute(template, lambda ref: "0")
    if len(longest) > AMI_NAME_MAX:
        yield doc.problem(
            rc.AMI_NAME_TOO_LONG,
            ("ami_name",),
            f"the AMI name {shown(longest[:60])}... can be {len(longest)} characters long; EC2 "
            f"allows {AMI_NAME_MAX}: shorten it by {len(longest) - AMI_NAME_MAX}",
        )
    elif len(shortest) < 3 or not re.fullmatch(AMI_NAME_PATTERN, longest):
        bad = sorted({c for c in longest if not re.fullmatch(AMI_NAME_PATTERN, c * 3)})
        what = f"characters EC2 does not allow ({' '.join(bad)})" if bad else "under 3 characters"
        yield doc.problem(
            rc.AMI_NAME_TOO_LONG,
            ("ami_name",),
            f"the AMI name {shown(longest)} would hold {what}; AMI names are 3 to 128 of "
            "A-Z a-z 0-9 ( ) [ ] space . / ' @ _ -",
        )


def _tag_value_problems(recipe: Recipe, doc: MarkedDocument) -> Iterator[Problem]:
    for key, value in recipe.tags.items():
        if "((" not in value:
            continue
        longest = substitute(value, longest_build_value)
        if len(longest) > TAG_VALUE_MAX:
            yield doc.problem(
                rc.TOO_LONG,
                ("tags", key),
                f"the tag value can be {len(longest)} characters long once the build fills it "
                f"in; AWS allows {TAG_VALUE_MAX}",
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
    if build.encrypted and dist.accounts:
        managed: list[tuple[PathKey, str | None]] = [(("build", "kms_key_id"), build.kms_key_id)]
        managed += [(("distribute", "kms_key_ids", r), key) for r, key in dist.kms_key_ids.items()]
        for where, key in managed:
            if key is not None and re.fullmatch(AWS_MANAGED_KEY_PATTERN, key):
                yield doc.problem(
                    rc.SHARE_DEFAULT_KEY,
                    where,
                    f"{key} is an AWS managed key: images and copies encrypted with it cannot be "
                    "shared with distribute.accounts; use a customer managed key they may use",
                )


def share_allowlist_problems(
    recipe: Recipe, doc: MarkedDocument, share_allowlist: Collection[str]
) -> Iterator[Problem]:
    """Yield the accounts, organizations and organizational units a recipe shares its image
    with that share_allowlist does not allow."""
    for key, what in (
        ("accounts", "account"),
        ("organizations", "organization"),
        ("organizational_units", "organizational unit"),
    ):
        for index, target in enumerate(getattr(recipe.distribute, key)):
            if target not in share_allowlist:
                yield doc.problem(
                    rc.SHARE_NOT_ALLOWED,
                    ("distribute", key, index),
                    f"{what} {target} is not in share_allowlist of bakery.yaml; add it there "
                    "to share with it, or drop it here",
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


def project_key_problems(doc: MarkedDocument) -> Iterator[Problem]:
    """Yield the copy keys of a schema-valid bakery.yaml that are AWS managed while
    share_allowlist lets images be shared: copies encrypted with them could never be."""
    if not doc.data.get("share_allowlist"):
        return
    for region, key in doc.data.get("kms_key_ids", {}).items():
        if re.fullmatch(AWS_MANAGED_KEY_PATTERN, key):
            yield doc.problem(
                rc.SHARE_DEFAULT_KEY,
                ("kms_key_ids", region),
                f"{key} is an AWS managed key: copies encrypted with it cannot be shared with "
                "the accounts of share_allowlist; use a customer managed key they may use",
            )


def channel_problems(doc: MarkedDocument) -> Iterator[Problem]:
    """Yield what is wrong with `channels` of a schema-valid bakery.yaml: unknown or circular
    `requires`."""
    channels: dict[str, Any] = doc.data.get("channels", {})
    requires = {name: spec.get("requires") for name, spec in channels.items()}
    for name, required in requires.items():
        if required is not None and required not in channels:
            close = difflib.get_close_matches(required, list(channels), n=1)
            hint = f"did you mean {close[0]}?" if close else "add it under channels"
            yield doc.problem(
                rc.UNKNOWN_CHANNEL,
                ("channels", name, "requires"),
                f"no channel is called {required}; {hint}",
            )
    known = {
        name: required if required in channels else None for name, required in requires.items()
    }
    for cycle in find_cycles(known):
        chain = " → ".join(cycle)
        for name in cycle[:-1]:
            yield doc.problem(
                rc.CHANNEL_CYCLE,
                ("channels", name, "requires"),
                f"channels require each other in a circle: {chain}; make one require none",
            )
