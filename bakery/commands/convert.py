"""`bakery convert TEMPLATE [--var-file F ...] [--out PATH] [--force]`: a Packer template as
recipes, with what has no equivalent listed on stderr and left as comments in the recipe."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bakery.config.paths import has_control, inside, is_regular_file, shown
from bakery.config.project import PROJECT_FILE, Project, find_project, load_project
from bakery.convert.paths import ProjectPaths
from bakery.convert.recipes import Conversion, ConvertInput, convert
from bakery.convert.var_files import VarFile
from bakery.errors import BakeryError, UsageError

# A template or var file is read whole: real ones are kilobytes (the largest seen, with 3,554
# provisioners, under 1 MiB); a hostile one could be anything.
MAX_FILE_BYTES = 8 * 1024 * 1024
RECIPE_SUFFIXES = (".yaml", ".yml")


def run(args: argparse.Namespace) -> int:
    root, project = _project(args)
    template, more = _templates(Path(args.template))
    text = _read(template, "template")
    var_files = [
        VarFile(_label(path), _read(path, "var file"), auto=True) for path in _auto_files(template)
    ]
    var_files += [
        VarFile(_label(Path(name)), _read(Path(name), "var file")) for name in args.var_file
    ]
    recipes_dir = project.recipes_dir if project else "recipes"
    out, folder_mode = _out(args.out, root)
    if out is None:
        recipe_folder = recipes_dir
        name = None
    else:
        folder = out if folder_mode else out.parent
        recipe_folder = folder.relative_to(root).as_posix() or "."
        name = None if folder_mode else out.stem
    paths = ProjectPaths(
        root.as_posix(), recipe_folder, lambda relative: not inside(root / relative, root)
    )
    conversion = convert(
        ConvertInput(
            text,
            _label(template),
            _folder_in(root, template),
            paths,
            tuple(var_files),
            name=name,
            region=project.region if project else None,
            project_parameters=frozenset(project.parameters) if project else frozenset(),
            more_templates=tuple((_label(path), _read(path, "template")) for path in more),
            label=_label(Path(args.template)) if more else None,
        )
    )
    for finding in conversion.findings:
        print(finding, file=sys.stderr)
    if not conversion.recipes:
        raise BakeryError(f"{shown(_label(template))}: no amazon-ebs source to convert")
    if out is not None and not folder_mode and len(conversion.recipes) > 1:
        names = ", ".join(recipe.name for recipe in conversion.recipes)
        raise UsageError(
            f"the template makes {len(conversion.recipes)} recipes ({names}); "
            "--out names a folder for them"
        )
    if out is None:
        _print(conversion)
    else:
        _write(conversion, root, args.force)
    _hints(conversion, project, written=out is not None)
    return 0


def _project(args: argparse.Namespace) -> tuple[Path, Project | None]:
    """The project root (-C, bakery.yaml found from here up, else the current folder) and its
    settings when it has a bakery.yaml."""
    if args.project:
        root = Path(args.project).resolve()
    else:
        try:
            root = find_project(Path.cwd())
        except BakeryError:
            root = Path.cwd().resolve()
    if not (root / PROJECT_FILE).exists():
        print(
            f"bakery: note: no {PROJECT_FILE} in {shown(str(root))}: paths are taken relative "
            "to it; create bakery.yaml there before `bakery validate`",
            file=sys.stderr,
        )
        return root, None
    return root, load_project(root)


def _templates(path: Path) -> tuple[Path, list[Path]]:
    """The template file, or for a folder (as `packer build FOLDER` reads it) its first
    *.pkr.hcl / *.pkr.json file and the others."""
    if not path.is_dir():
        return path, []
    found = sorted(
        item
        for pattern in ("*.pkr.hcl", "*.pkr.json")
        for item in path.glob(pattern)
        if is_regular_file(item)
    )
    if not found:
        raise BakeryError(f"{shown(_label(path))}: a folder with no *.pkr.hcl or *.pkr.json file")
    return found[0], found[1:]


def _label(path: Path) -> str:
    return path.as_posix()


def _read(path: Path, what: str) -> str:
    label = shown(_label(path))
    if not path.exists():
        raise BakeryError(f"{label}: no such {what}")
    if not is_regular_file(path):  # a FIFO would hang the read
        raise BakeryError(f"{label}: not a regular file; name a {what} file")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise BakeryError(f"{label}: {size} bytes; a {what} of at most 8 MiB is read")
        data = path.read_bytes()
    except OSError as error:
        raise BakeryError(f"{label}: cannot read: {error.strerror or error}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise BakeryError(f"{label}: not UTF-8 text (byte {error.start})") from None


def _auto_files(template: Path) -> list[Path]:
    """The var files Packer loads by itself: *.auto.pkrvars.hcl (and .json) beside the template
    (an HCL2 template; a JSON template has none)."""
    if template.name.endswith(".json") and not template.name.endswith(".pkr.json"):
        return []
    folder = template.parent
    found = [*folder.glob("*.auto.pkrvars.hcl"), *folder.glob("*.auto.pkrvars.json")]
    return sorted(path for path in found if is_regular_file(path))


def _folder_in(root: Path, template: Path) -> str | None:
    """The template's folder relative to the project; None when it lies outside."""
    folder = template.resolve().parent
    if not folder.is_relative_to(root):
        return None
    return folder.relative_to(root).as_posix() or "."


def _out(text: str | None, root: Path) -> tuple[Path | None, bool]:
    """Where --out writes (relative to the project, and inside it) and whether it is a folder."""
    if text is None:
        return None, False
    if has_control(text):
        raise UsageError(f"--out {shown(text)} holds a control character")
    path = Path(os.path.normpath(root / text))
    if not inside(path, root) or not path.is_relative_to(root):
        raise UsageError(
            f"--out {shown(text)} is outside the project {shown(str(root))}: the recipes name "
            "the template's scripts by paths inside it"
        )
    folder = text.endswith("/") or path.is_dir() or path.suffix not in RECIPE_SUFFIXES
    return path, folder


def _print(conversion: Conversion) -> None:
    for index, recipe in enumerate(conversion.recipes):
        if index:
            sys.stdout.write("---\n")
        if len(conversion.recipes) > 1:
            sys.stdout.write(f"# {recipe.file}\n")
        sys.stdout.write(recipe.text)
        if recipe.var_text is not None:
            sys.stdout.write(f"---\n# {recipe.var_file}\n{recipe.var_text}")


def _write(conversion: Conversion, root: Path, force: bool) -> None:
    files: list[tuple[Path, str]] = []
    for recipe in conversion.recipes:
        files.append((root / recipe.file, recipe.text))
        if recipe.var_file is not None and recipe.var_text is not None:
            files.append((root / recipe.var_file, recipe.var_text))
    for path, _ in files:  # refuse before writing any
        label = shown(path.relative_to(root).as_posix())
        if path.is_symlink():
            raise BakeryError(f"{label} is a symbolic link; bakery writes no file through one")
        if path.exists() and not force:
            raise BakeryError(f"{label} exists; pass --force to replace it")
        if path.exists() and not is_regular_file(path):
            raise BakeryError(f"{label} exists and is not a file")
        if not inside(path.parent, root):
            raise BakeryError(f"{label} leads out of the project through a symbolic link")
    for path, text in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w" if force else "x", encoding="utf-8") as handle:
            handle.write(text)
        print(f"wrote {shown(path.relative_to(root).as_posix())}", file=sys.stderr)


def _hints(conversion: Conversion, project: Project | None, written: bool) -> None:
    """What bakery.yaml needs for the recipes to validate: the owners their filters trust."""
    count = sum(1 for f in conversion.findings if f.kind == "not mapped")
    changed = len(conversion.findings) - count
    print(
        f"bakery: {count} setting{'s' if count != 1 else ''} not mapped, {changed} mapped with "
        "a change (listed above, and as comments in the recipe)",
        file=sys.stderr,
    )
    if project is None:
        return
    owners: set[str] = set()
    for recipe in conversion.recipes:
        documents = [recipe.document.get("source", {})]
        for override in recipe.document.get("variants", {}).get("overrides", []):
            documents.append(override.get("source", {}))
        for source in documents:
            owners.update(str(o) for o in source.get("filter", {}).get("owners", []))
    missing = sorted(o for o in owners if "((" not in o and o not in project.trusted_owners)
    if missing:
        print(
            f"bakery: hint: add {', '.join(missing)} to trusted_owners of bakery.yaml: a source "
            "filter names only owners it trusts",
            file=sys.stderr,
        )
    if written:
        files = [r.file for r in conversion.recipes]
        var_files = [f"--var-file {r.var_file}" for r in conversion.recipes if r.var_file]
        print(f"bakery: next: bakery validate {' '.join(var_files + files)}", file=sys.stderr)
