"""Discover and load every recipe of a project, reporting all problems of a run together."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bakery.config import rule_codes as rc
from bakery.config.graph import RecipeGraph
from bakery.config.marks import MarkedDocument, PathKey, load_marked
from bakery.config.project import Project
from bakery.config.recipe import Recipe, build_recipe
from bakery.config.rules import catalog_problems, recipe_problems, resolve_path
from bakery.config.schema import RECIPE_SCHEMA
from bakery.config.schema_check import check_shape
from bakery.config.secrets import scan_bytes, scan_text
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
    chosen = [path.resolve() for path in only]
    for path in chosen:
        if path not in files:
            files.append(path)
    problems: list[Problem] = []
    loaded: list[tuple[Recipe, MarkedDocument]] = []
    known_names: dict[str, str] = {}
    scanned: set[str] = set()
    for path in files:
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
                problems += scan_bytes((project.root / used).read_bytes(), used)
    problems += catalog_problems(loaded, known_names)
    if chosen:
        keep = {project.relative(path) for path in chosen}
        keep |= {used for recipe, _ in loaded if recipe.file in keep for used in recipe.used_files}
        problems = [problem for problem in problems if problem.file in keep]
    problems = [problem for problem in problems if problem.code not in project.ignored_rules]
    if any(problem.is_error for problem in problems):
        raise InvalidInputError(problems)
    recipes = {recipe.name: recipe for recipe, _ in loaded}
    graph = RecipeGraph({name: recipe.parent for name, recipe in recipes.items()})
    return Catalog(project, recipes, graph, tuple(sorted(set(problems))))


def _load_file(
    project: Project, path: Path
) -> tuple[Recipe | None, MarkedDocument | None, list[Problem]]:
    file = project.relative(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return None, None, [rc.UNREADABLE_FILE.at(file, 1, 1, "", f"cannot read: {error}")]
    doc, syntax = load_marked(text, file)
    problems = syntax + scan_text(text, file)
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
    return (None if path_problems else recipe), doc, problems
