"""A project of one recipe on disk, rendered the way `bakery render` does, and read back.

`recipe_project` writes bakery.yaml, the recipe (as JSON, which YAML reads as it is, so no
value needs YAML quoting) and its files; `render_named` loads the catalog and renders a recipe;
`provisioners` and `source_of` read the template back with python-hcl2, strings unquoted.
`run_local_step` runs the commands of one local-mode `shell-local` provisioner the way Packer
does (a script run by `/bin/sh -e`, in the build folder bakery runs Packer in).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import hcl2

from bakery.config.catalog import Catalog, load_catalog
from bakery.config.project import load_project
from bakery.errors import InvalidInputError
from bakery.render.build_folder import Rendered, TemplateDialect, render

PROJECT = "aws: {region: us-east-1}\n"
BASE = {"layer": "base", "version": "1.0.0", "source": {"ami": "ami-12345678"}}


def recipe_project(
    root: Path,
    recipe: Mapping[str, Any],
    files: Mapping[str, str | bytes] | None = None,
    *,
    executable: Iterable[str] = (),
    project: str = PROJECT,
) -> Path:
    """Write a project holding `recipe` (BASE filled in) as recipes/NAME.yaml, and `files`
    under recipes/ (the `executable` ones with mode 0755, the rest 0644); return its root."""
    recipes = root / "recipes"
    recipes.mkdir(parents=True, exist_ok=True)
    (root / "bakery.yaml").write_text(project, encoding="utf-8")
    document = {"name": "r", **BASE, **recipe}
    text = json.dumps(document, ensure_ascii=False, indent=2)
    (recipes / f"{document['name']}.yaml").write_text(text, encoding="utf-8")
    for relative, content in (files or {}).items():
        path = recipes / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        path.chmod(0o644)
    for relative in executable:
        (recipes / relative).chmod(0o755)
    return root


def catalog_of(root: Path) -> Catalog:
    return load_catalog(load_project(root))


def problems_of(root: Path) -> list[str]:
    """The problems loading the project's catalog reports (errors raise; warnings are kept)."""
    try:
        catalog = catalog_of(root)
    except InvalidInputError as error:
        return [str(problem) for problem in error.problems]
    return [str(problem) for problem in catalog.warnings]


def render_named(
    root: Path, name: str = "r", dialect: TemplateDialect = "1.7+", *, local: bool = False
) -> Rendered:
    """Render one recipe of the project as `bakery render` does (project files read from disk)."""
    catalog = catalog_of(root)
    project = catalog.project
    return render(
        catalog.recipes[name],
        project.tags,
        dialect,
        lambda path: (project.root / path).read_bytes(),
        local=local,
    )


def unquote(raw: Any) -> Any:
    """Undo python-hcl2's raw strings: quotes, HCL escapes and doubled template sequences."""
    if isinstance(raw, str) and raw.startswith('"'):
        return json.loads(raw).replace("$${", "${").replace("%%{", "%{")
    if isinstance(raw, dict):
        return {unquote(key): unquote(value) for key, value in raw.items() if key != "__is_block__"}
    if isinstance(raw, list):
        return [unquote(item) for item in raw]
    return raw


def template_text(rendered: Rendered) -> str:
    return rendered.files[rendered.template_name].decode()


def parsed(rendered: Rendered) -> dict[str, Any]:
    return hcl2.loads(template_text(rendered))


def provisioners(rendered: Rendered) -> list[tuple[str, dict[str, Any]]]:
    """(type, attributes) of every provisioner of the build, in order, strings unquoted."""
    found: list[tuple[str, dict[str, Any]]] = []
    for entry in parsed(rendered)["build"][0].get("provisioner", []):
        ((kind, body),) = entry.items()
        found.append((unquote(kind), unquote(body)))
    return found


def source_of(rendered: Rendered) -> dict[str, Any]:
    """The attributes and blocks of the recipe's `amazon-ebs` source, strings unquoted."""
    sources = parsed(rendered)["source"][0]['"amazon-ebs"']
    return unquote(sources[f'"{rendered.recipe}"'])  # type: ignore[no-any-return]


def run_local_step(
    folder: Path, commands: Iterable[str], env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a `shell-local` provisioner's inline commands as Packer does: one script, `sh -e`,
    in the build folder."""
    script = folder / ".local-step.sh"
    script.write_text("\n".join(commands) + "\n", encoding="utf-8")
    try:
        return subprocess.run(
            ["sh", "-e", script.name],
            cwd=folder,
            capture_output=True,
            text=True,
            check=False,
            env=None if env is None else dict(env),
        )
    finally:
        script.unlink()
