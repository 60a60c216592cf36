"""Discover and load every recipe of a project, reporting all problems of a run together."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bakery.config import rule_codes as rc
from bakery.config.graph import RecipeGraph
from bakery.config.marks import MarkedDocument, PathKey, load_marked
from bakery.config.paths import has_control, is_regular_file, shown
from bakery.config.project import Project
from bakery.config.recipe import Recipe, build_recipe
from bakery.config.rules import (
    catalog_problems,
    recipe_problems,
    resolve_path,
    share_allowlist_problems,
)
from bakery.config.schema import RECIPE_SCHEMA
from bakery.config.schema_check import check_shape
from bakery.config.secrets import scan_bytes, scan_project_file, scan_yaml
from bakery.errors import BakeryError, InvalidInputError, Problem

RECIPE_SUFFIXES = (".yaml", ".yml")
# Folders under recipes/ that hold what recipes upload, not recipes.
SKIPPED_FOLDERS = ("files", "scripts")


@dataclass(frozen=True)
class Catalog:
    """The valid recipes of a project, their graph, and the warnings found (not ignored)."""

    project: Project
    recipes: Mapping[str, Recipe]
    graph: RecipeGraph
    warnings: tuple[Problem, ...] = ()

    def get(self, name: str) -> Recipe:
        """Return the recipe called `name`, or say which names exist."""
        if name in self.recipes:
            return self.recipes[name]
        close = difflib.get_close_matches(name, list(self.recipes), n=1)
        hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(sorted(self.recipes))}"
        raise BakeryError(f"unknown recipe {name}; {hint}")

    def select(self, names: Sequence[str]) -> list[str]:
        """Return `names` (all recipes when empty) in build order."""
        for name in names:
            self.get(name)
        chosen = set(names) if names else set(self.recipes)
        return [name for wave in self.graph.waves() for name in wave if name in chosen]


def discover(project: Project) -> list[Path]:
    """Return every recipe file under the project's recipes folder, sorted."""
    folder = project.root / project.recipes_dir
    if not folder.is_dir():
        raise BakeryError(
            f"recipes folder {project.recipes_dir} not found in {project.root}; "
            "create it or set recipes: in bakery.yaml"
        )
    found = []
    for path in sorted(folder.rglob("*")):
        parts = path.relative_to(folder).parts[:-1]
        if any(p.startswith((".", "_")) or p in SKIPPED_FOLDERS for p in parts):
            continue
        if path.suffix in RECIPE_SUFFIXES and path.is_file():
            found.append(path)
    return found


def load_catalog(project: Project, only: Iterable[Path] = ()) -> Catalog:
    """Load and check every recipe; raise InvalidInputError with all problems found.

    Warnings alone do not raise: the catalog carries them, less those bakery.yaml ignores
    (`rules.ignore`). With `only`, problems are reported for those files alone (the rest still
    give context: names that `source.recipe` may refer to).
    """
    files = discover(project)
    chosen = [_resolved(path) for path in only]
    for path in chosen:
        if path not in files:
            files.append(path)
    # bakery.yaml itself: its tags reach the template, the Packer log and the images.
    problems: list[Problem] = scan_project_file(project.file, project.secrets_allow)
    loaded: list[tuple[Recipe, MarkedDocument]] = []
    known_names: dict[str, str] = {}
    scanned: set[str] = set()
    for path in files:
        refused = _refused_file(project, path, named=path in chosen)
        if refused is not None:
            problems.append(refused)
            continue
        recipe, doc, found = _load_file(project, path)
        problems += found
        if doc is not None and isinstance(doc.data, dict) and isinstance(doc.data.get("name"), str):
            known_names.setdefault(doc.data["name"], doc.file)
        if recipe is None or doc is None:
            continue
        loaded.append((recipe, doc))
        for used in recipe.used_files:
            if used not in scanned:
                scanned.add(used)
                data = (project.root / used).read_bytes()
                problems += scan_bytes(data, used, project.secrets_allow)
    problems += catalog_problems(loaded, known_names)
    if chosen:
        keep = {shown(project.relative(path)) for path in chosen}
        keep |= {used for recipe, _ in loaded if recipe.file in keep for used in recipe.used_files}
        keep.add(project.file.name)
        # An archive's member is reported as ARCHIVE!MEMBER.
        problems = [problem for problem in problems if problem.file.split("!")[0] in keep]
    problems = [problem for problem in problems if problem.code not in project.ignored_rules]
    if any(problem.is_error for problem in problems):
        raise InvalidInputError(problems)
    recipes = {recipe.name: recipe for recipe, _ in loaded}
    graph = RecipeGraph({name: recipe.parent for name, recipe in recipes.items()})
    return Catalog(project, recipes, graph, tuple(sorted(set(problems))))


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a loop of symbolic links: refused as not a file
        return path.absolute()


def _refused_file(project: Project, path: Path, named: bool) -> Problem | None:
    """Say why a recipe file is not read: a control character in its name, a symbolic link out
    of the project (unless the user named the file), or not a regular file (a FIFO would hang).
    """
    file = project.relative(path)
    if has_control(file):
        return rc.CONTROL_IN_PATH.at(
            shown(file), 1, 1, "", "the file name holds a control character; rename the file"
        )
    try:
        target = path.resolve()
    except (OSError, RuntimeError):  # a loop of symbolic links
        target = None
    if target is not None and not named and not target.is_relative_to(project.root):
        return rc.PATH_OUTSIDE.at(
            file,
            1,
            1,
            "",
            "a symbolic link that leads out of the project; keep recipes inside it",
        )
    if target is None or not is_regular_file(target):
        return rc.NOT_A_FILE.at(
            file, 1, 1, "", "not a regular file; bakery reads recipes from regular files only"
        )
    return None


def _load_file(
    project: Project, path: Path
) -> tuple[Recipe | None, MarkedDocument | None, list[Problem]]:
    file = project.relative(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return None, None, [rc.UNREADABLE_FILE.at(file, 1, 1, "", f"cannot read: {error}")]
    doc, syntax = load_marked(text, file)
    if any(problem.code == rc.FILE_TOO_LARGE.code for problem in syntax):
        return None, None, syntax  # refused whole: neither parsed nor scanned, bounded time
    problems = syntax + scan_yaml(doc, text, file, project.secrets_allow)
    if doc is None:
        return None, None, problems
    if doc.data is None:
        empty = rc.EMPTY_RECIPE.at(file, 1, 1, "", "empty recipe; see docs/recipes.md")
        return None, doc, [*problems, empty]
    # A value YAML could not read is None now: its wrong type would only repeat the problem.
    unread = (rc.UNREADABLE_VALUE.code, rc.INVALID_UNICODE.code)
    unreadable = {problem.path for problem in syntax if problem.code in unread}
    shape = [p for p in check_shape(doc, RECIPE_SCHEMA) if p.path not in unreadable]
    if shape or syntax:
        return None, doc, problems + shape
    path_problems: list[Problem] = []

    def resolve(raw: str, where: PathKey) -> str:
        relative, problem = resolve_path(raw, path, project.root, where, doc)
        if problem:
            path_problems.append(problem)
        return relative or raw

    recipe = build_recipe(
        doc.data, file=file, region=project.region, defaults=project.defaults, resolve=resolve
    )
    problems += path_problems
    problems += recipe_problems(recipe, doc, project.trusted_owners, project.tags)
    problems += share_allowlist_problems(recipe, doc, project.share_allowlist)
    return (None if path_problems else recipe), doc, problems
