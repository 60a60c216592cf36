"""Discover and load every recipe of a project, reporting all problems of a run together."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

from bakery.config import rule_codes as rc
from bakery.config.family import Instance, expand
from bakery.config.graph import RecipeGraph
from bakery.config.marks import MarkedDocument, PathKey, format_path, load_marked
from bakery.config.params import (
    FAMILY_KEYS,
    GivenValue,
    GivenValues,
    load_var_file,
    parse_var_option,
    resolve_build_references,
    selector,
    walk_strings,
)
from bakery.config.paths import has_control, is_regular_file, shown
from bakery.config.project import PROJECT_FILE, Project
from bakery.config.recipe import Recipe, TreeFile, build_recipe
from bakery.config.rules import (
    catalog_problems,
    recipe_problems,
    resolve_path,
    resolve_upload,
    share_allowlist_problems,
)
from bakery.config.schema import RECIPE_SCHEMA
from bakery.config.schema_check import check_shape
from bakery.config.secrets import scan_bytes, scan_project_file, scan_yaml
from bakery.config.settings import settings_problems
from bakery.errors import BakeryError, InvalidInputError, Problem, UsageError

RECIPE_SUFFIXES = (".yaml", ".yml")
# Folders under recipes/ that hold what recipes upload, not recipes.
SKIPPED_FOLDERS = ("files", "scripts")


@dataclass(frozen=True)
class Catalog:
    """The valid recipes of a project, their graph, and the warnings found (not ignored)."""

    project: Project
    recipes: Mapping[str, Recipe]  # by name; a family's instances by instance name
    graph: RecipeGraph
    warnings: tuple[Problem, ...] = ()

    @property
    def families(self) -> dict[str, list[str]]:
        """Each family's instance names, in the order its matrix gives them."""
        found: dict[str, list[str]] = {}
        for name, recipe in self.recipes.items():
            if recipe.family is not None:
                found.setdefault(recipe.family, []).append(name)
        return found

    def get(self, name: str) -> Recipe:
        """Return the recipe (or instance) called `name`, or say which names exist."""
        if name in self.recipes:
            return self.recipes[name]
        known = sorted({*self.recipes, *self.families})
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(known)}"
        if name in self.families:
            instances = ", ".join(self.families[name])
            hint = f"{name} is a family; name one of its instances: {instances}"
        raise BakeryError(f"unknown recipe {name}; {hint}")

    def expand(self, name: str) -> list[str]:
        """The recipes `name` stands for: a recipe or instance, a family (all its instances), or
        `FAMILY[param=value,...]` (its instances with those values)."""
        try:
            chosen = selector(name)
        except ValueError as error:
            raise BakeryError(str(error)) from None
        if chosen is None:
            if name in self.recipes:
                return [name]
            if name in self.families:
                return list(self.families[name])
            self.get(name)  # raises, with a hint
        assert chosen is not None
        family, wanted = chosen
        members = self.families.get(family)
        if members is None:
            self.get(family)  # raises, with a hint
            raise BakeryError(f"{family} is not a family; name it without [...]")
        for key in wanted:
            if not any(key in self.recipes[m].parameters for m in members):
                raise BakeryError(f"{shown(name)}: {family} has no parameter {key}")
        found = [
            member
            for member in members
            if all(self.recipes[member].parameters.get(k) == v for k, v in wanted.items())
        ]
        if not found:
            raise BakeryError(f"{shown(name)}: no instance of {family} has those values")
        return found

    def select(self, names: Sequence[str]) -> list[str]:
        """Return the recipes `names` stand for (all recipes when empty) in build order."""
        chosen = {found for name in names for found in self.expand(name)}
        if not names:
            chosen = set(self.recipes)
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
    # A folder holding its own bakery.yaml is another project (the samples of recipes/examples).
    nested = {path.parent for path in folder.rglob(PROJECT_FILE) if path.parent != folder}
    for path in sorted(folder.rglob("*")):
        parts = path.relative_to(folder).parts
        if path.name.startswith((".", "_")):
            continue  # what recipes upload, as docs/recipes.md says
        if any(p.startswith((".", "_")) or p in SKIPPED_FOLDERS for p in parts[:-1]):
            continue
        if any(parent in nested for parent in path.parents):
            continue
        if path.suffix in RECIPE_SUFFIXES and path.is_file():
            found.append(path)
    return found


def given_values(
    project: Project,
    var_files: Sequence[Path] = (),
    var_options: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> GivenValues:
    """Collect the values given for parameters: bakery.yaml's var files, then `var_files` (the
    user named them), then `--var NAME=VALUE` options; `environ` is read only for the variables
    a parameter may take its value from (BAKERY_VAR_<name>, its `env:`)."""
    import os

    values: dict[str, GivenValue] = {}
    problems: list[Problem] = []
    files = [(project.root / name, name) for name in project.var_files]
    files += [(path, str(path)) for path in var_files]
    for path, shown_name in files:
        if path.exists() and not is_regular_file(path):  # a FIFO would hang the read
            raise BakeryError(f"var file {shown(shown_name)}: not a regular file; name a file")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise BakeryError(f"var file {shown(shown_name)}: cannot read: {error}") from None
        found, trouble = load_var_file(text, shown_name)
        values.update(found)
        problems += trouble
    if problems:
        raise InvalidInputError(problems)
    for option in var_options:
        try:
            name, value = parse_var_option(option)
        except ValueError as error:
            raise UsageError(str(error)) from None
        values[name] = GivenValue(value, f"--var {name}={shown(value)}")
    return GivenValues(values, dict(os.environ if environ is None else environ))


def load_catalog(
    project: Project, only: Iterable[Path] = (), given: GivenValues | None = None
) -> Catalog:
    """Load and check every recipe; raise InvalidInputError with all problems found.

    Warnings alone do not raise: the catalog carries them, less those bakery.yaml ignores
    (`rules.ignore`). With `only`, problems are reported for those files alone (the rest still
    give context: names that `source.recipe` may refer to). `given` holds the values given for
    parameters (default: bakery.yaml's var files and the environment).
    """
    if given is None:
        given = given_values(project)
    files = discover(project)
    chosen = [_resolved(path) for path in only]
    for path in chosen:
        if path not in files:
            files.append(path)
    # bakery.yaml itself: its tags reach the template, the Packer log and the images.
    problems: list[Problem] = scan_project_file(project.file, project.secrets_allow)
    # The var files of bakery.yaml: their values reach templates, tags and logs as well.
    for name in project.var_files:
        try:
            text = (project.root / name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # given_values said so already
        var_doc, _ = load_marked(text, name)
        problems += scan_yaml(var_doc, text, name, project.secrets_allow)
    loaded: list[tuple[Recipe, MarkedDocument]] = []
    known_names: dict[str, str] = {}
    declared: set[str] = set(project.parameters)
    scanned: set[str] = set()
    for path in files:
        refused = _refused_file(project, path, named=path in chosen)
        if refused is not None:
            problems.append(refused)
            continue
        instances, doc, found, names = _load_file(project, path, given)
        problems += found
        declared |= names
        if doc is not None and isinstance(doc.data, dict) and isinstance(doc.data.get("name"), str):
            known_names.setdefault(doc.data["name"], doc.file)
        for recipe, instance_doc in instances:
            known_names.setdefault(recipe.name, recipe.file)
            loaded.append((recipe, instance_doc))
            for used in recipe.used_files:
                if used not in scanned:
                    scanned.add(used)
                    data = (project.root / used).read_bytes()
                    problems += scan_bytes(data, used, project.secrets_allow)
    problems += _unknown_given(given, declared)
    problems += _shadowed_families(loaded)
    problems += _shared_ami_names(loaded)
    loaded, found = resolve_parents(loaded)
    problems += found
    problems += catalog_problems(loaded, known_names)
    if chosen:
        keep = {shown(project.relative(path)) for path in chosen}
        keep |= {used for recipe, _ in loaded if recipe.file in keep for used in recipe.used_files}
        keep.add(project.file.name)
        keep |= set(project.var_files)
        # An archive's member is reported as ARCHIVE!MEMBER.
        problems = [problem for problem in problems if problem.file.split("!")[0] in keep]
    problems = [problem for problem in problems if problem.code not in project.ignored_rules]
    problems = list(dict.fromkeys(problems))
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
    project: Project, path: Path, given: GivenValues
) -> tuple[list[tuple[Recipe, MarkedDocument]], MarkedDocument | None, list[Problem], set[str]]:
    """Load one recipe file as its instances (one for a recipe without a matrix)."""
    file = project.relative(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return [], None, [rc.UNREADABLE_FILE.at(file, 1, 1, "", f"cannot read: {error}")], set()
    doc, syntax = load_marked(text, file)
    if any(problem.code == rc.FILE_TOO_LARGE.code for problem in syntax):
        return [], None, syntax, set()  # refused whole: neither parsed nor scanned, bounded time
    problems = syntax + scan_yaml(doc, text, file, project.secrets_allow)
    if doc is None:
        return [], None, problems, set()
    if doc.data is None:
        empty = rc.EMPTY_RECIPE.at(file, 1, 1, "", "empty recipe; see docs/recipes.md")
        return [], doc, [*problems, empty], set()
    # A value YAML could not read is None now: its wrong type would only repeat the problem.
    unread = (rc.UNREADABLE_VALUE.code, rc.INVALID_UNICODE.code)
    unreadable = {problem.path for problem in syntax if problem.code in unread}
    if not isinstance(doc.data, dict):
        return [], doc, problems + check_shape(doc, RECIPE_SCHEMA), set()
    instances, found, names = expand(doc, project.parameters, given, project.region)
    problems += [p for p in found if p.path not in unreadable]
    if syntax or any(problem.is_error for problem in found):
        # Still check the shape of what stands on its own, so a run reports all it can.
        if syntax or not instances:
            bare = {k: v for k, v in doc.data.items() if k not in FAMILY_KEYS}
            view = MarkedDocument(doc.file, bare, doc.values, doc.keys)
            shape = [p for p in check_shape(view, RECIPE_SCHEMA) if p.path not in unreadable]
            # A key an override gives each instance is not missing: only instances can say.
            overrides = isinstance(doc.data.get("variants"), dict) and doc.data["variants"].get(
                "overrides"
            )
            problems += [
                p
                for p in shape
                if not _holds_reference(doc, p)
                and not (overrides and p.code == rc.REQUIRED_KEY.code)
            ]
        return [], doc, problems, names
    result: list[tuple[Recipe, MarkedDocument]] = []
    each: list[tuple[Instance, list[Problem]]] = []
    for instance in instances:
        recipe, instance_problems = _instance_recipe(project, path, file, instance, unreadable)
        each.append((instance, instance_problems))
        if recipe is not None:
            result.append((recipe, instance.doc))
    # A problem every instance has is said once; one only some have names each of them.
    counts: dict[Problem, int] = {}
    for _, found_here in each:
        for problem in set(found_here):
            counts[problem] = counts.get(problem, 0) + 1
    for instance, found_here in each:
        problems += [
            problem if counts[problem] == len(each) else _naming(doc, instance, problem)
            for problem in found_here
        ]
    if any(problem.is_error for problem in problems):
        return [], doc, problems, names
    return result, doc, problems, names


def _instance_recipe(
    project: Project, path: Path, file: str, instance: Instance, unreadable: set[str]
) -> tuple[Recipe | None, list[Problem]]:
    doc = instance.doc
    shape = [p for p in check_shape(doc, RECIPE_SCHEMA) if p.path not in unreadable]
    if shape:
        return None, shape
    path_problems: list[Problem] = []

    def resolve(raw: str, where: PathKey) -> str:
        relative, problem = resolve_path(raw, path, project.root, where, doc)
        if problem:
            path_problems.append(problem)
        return relative or raw

    def upload(raw: str, where: PathKey, folder_ok: bool) -> tuple[str, tuple[TreeFile, ...], bool]:
        relative, files, folder, problem = resolve_upload(
            raw, path, project.root, where, doc, folder_ok
        )
        if problem:
            path_problems.append(problem)
        return relative or raw, files, folder

    recipe = build_recipe(
        doc.data,
        file=file,
        region=project.region,
        defaults=project.defaults,
        resolve=resolve,
        resolve_upload=upload,
    )
    recipe = replace(
        recipe,
        name=instance.name,
        family=instance.family,
        parameters=MappingProxyType(dict(instance.used)),
        ami_name=doc.data.get("ami_name"),
        axes=tuple(instance.matrix),
    )
    problems = list(path_problems)
    problems += recipe_problems(recipe, doc, project.trusted_owners, project.tags)
    problems += share_allowlist_problems(recipe, doc, project.share_allowlist)
    if not path_problems:
        problems += settings_problems(recipe, doc, project.root)
    return (None if path_problems else recipe), problems


def _holds_reference(doc: MarkedDocument, problem: Problem) -> bool:
    """Whether a shape problem is about a value that holds a ((reference)) (judged per
    instance, once its values are known)."""
    for where, text in walk_strings(doc.data):
        if format_path(where) == problem.path and "((" in text:
            return True
    return False


def _naming(doc: MarkedDocument, instance: Instance, problem: Problem) -> Problem:
    """Name the instance in a problem about a value that came from a reference."""
    if instance.family is None or not _holds_reference(doc, problem):
        return problem
    return replace(problem, message=f"{problem.message} (in {instance.name})")


def _shadowed_families(loaded: list[tuple[Recipe, MarkedDocument]]) -> list[Problem]:
    """A recipe or instance named like a family: its name on the command line would be both."""
    families = {recipe.family for recipe, _ in loaded if recipe.family is not None}
    return [
        doc.problem(
            rc.DUPLICATE_NAME,
            ("name",) if recipe.family is None else ("variants", "name"),
            f"{recipe.name} is also the name of a family of instances; names must be unique",
        )
        for recipe, doc in loaded
        if recipe.name in families
    ]


def _shared_ami_names(loaded: list[tuple[Recipe, MarkedDocument]]) -> list[Problem]:
    """Instances of a family whose `ami_name` is the same for builds of the same moment: they
    build together, in one wave, and AWS refuses the second image of a name."""
    from datetime import UTC, datetime

    moment = datetime(2000, 1, 1, tzinfo=UTC)
    facts = {"build_id": "", "timestamp": "20000101000000"}
    seen: dict[tuple[str, str], str] = {}
    found: list[Problem] = []
    for recipe, doc in loaded:
        if recipe.family is None or recipe.ami_name is None:
            continue
        name = resolve_build_references(recipe.ami_name, facts, moment)
        if "((build_id))" in recipe.ami_name.replace(" ", ""):
            continue  # every build has its own id
        other = seen.setdefault((recipe.family, name), recipe.name)
        if other != recipe.name:
            found.append(
                doc.problem(
                    rc.AMI_NAME_NOT_UNIQUE,
                    ("ami_name",),
                    f"instances {other} and {recipe.name} would name their images alike when "
                    "built together; put ((instance)) or every matrix parameter in ami_name",
                )
            )
    return found


def _unknown_given(given: GivenValues, declared: set[str]) -> list[Problem]:
    """A value given for a parameter nothing declares: a typo, said before it is ignored."""
    found: list[Problem] = []
    for name, value in sorted(given.values.items()):
        if name in declared:
            continue
        close = difflib.get_close_matches(name, sorted(declared), n=1)
        hint = f"; did you mean {close[0]}?" if close else "; declare it under parameters:"
        message = f"no recipe or bakery.yaml declares a parameter {name}{hint}"
        if value.file is not None:
            found.append(
                rc.UNKNOWN_PARAMETER.at(value.file, value.line, value.column, name, message)
            )
        else:
            found.append(
                rc.UNKNOWN_PARAMETER.at(PROJECT_FILE, 1, 1, name, f"{value.origin}: {message}")
            )
    return found


def resolve_parents(
    loaded: list[tuple[Recipe, MarkedDocument]],
) -> tuple[list[tuple[Recipe, MarkedDocument]], list[Problem]]:
    """Turn each `source.recipe` into the name of the recipe or instance it builds on: a family
    means its instance with the same values of the family's matrix parameters."""
    names = {recipe.name for recipe, _ in loaded}
    members: dict[str, list[Recipe]] = {}
    for recipe, _ in loaded:
        if recipe.family is not None:
            members.setdefault(recipe.family, []).append(recipe)
    result: list[tuple[Recipe, MarkedDocument]] = []
    problems: list[Problem] = []
    for recipe, doc in loaded:
        ref = recipe.parent
        if ref is None or (ref in names and ref not in members):
            result.append((recipe, doc))
            continue
        chosen, why = _choose_parent(recipe, ref, members)
        if why is not None:
            problems.append(doc.problem(rc.FAMILY_PARENT, ("source", "recipe"), why))
            continue
        if chosen is None:  # an unknown name: catalog_problems says so
            result.append((recipe, doc))
            continue
        values = dict(recipe.parameters)
        values.update({k: v for k, v in chosen.parameters.items() if k in _axes(chosen, members)
                       and k in values})  # fmt: skip
        source = replace(recipe.source, value=chosen.name)
        result.append((replace(recipe, source=source, parameters=MappingProxyType(values)), doc))
    return result, problems


def _axes(recipe: Recipe, members: Mapping[str, list[Recipe]]) -> set[str]:
    """The parameters that tell the instances of `recipe`'s family apart: its matrix's."""
    return set(recipe.axes)


def _choose_parent(
    recipe: Recipe, ref: str, members: Mapping[str, list[Recipe]]
) -> tuple[Recipe | None, str | None]:
    try:
        chosen = selector(ref)
    except ValueError as error:
        return None, str(error)
    if chosen is not None:
        family, wanted = chosen
        if family not in members:
            return None, f"{family} is not a family of instances; name a recipe without [...]"
        found = [
            m for m in members[family] if all(m.parameters.get(k) == v for k, v in wanted.items())
        ]
        if len(found) != 1:
            count = "no instance" if not found else f"{len(found)} instances"
            return None, f"{count} of {family} match {ref}; name exactly one"
        return found[0], None
    if ref not in members:
        return None, None
    instances = members[ref]
    axes = sorted(_axes(instances[0], members))
    missing = [axis for axis in axes if axis not in recipe.parameters]
    if missing:
        return None, (
            f"{ref} is a family of {len(instances)} instances told apart by {', '.join(axes)}; "
            f"this recipe has no value of {', '.join(missing)}: name one ({ref}[{axes[0]}=...]) "
            "or give this recipe the parameter"
        )
    found = [m for m in instances if all(m.parameters.get(a) == recipe.parameters[a] for a in axes)]
    if len(found) != 1:
        values = ", ".join(f"{a}={recipe.parameters[a]}" for a in axes)
        return None, f"no instance of {ref} has {values}; name one or add it to its matrix"
    return found[0], None
