"""`bakery render [NAME...]`: write one build folder per recipe."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from bakery.commands import catalog_of, print_json, project_of
from bakery.config.recipe import Recipe
from bakery.packer import binary as packer
from bakery.render.build_folder import (
    build_facts,
    check_folder,
    fill_computed,
    output_folder,
    render,
    write,
)


def run(args: argparse.Namespace) -> int:
    project = project_of(args)
    catalog = catalog_of(project, args)
    names = catalog.select(args.names)
    dialect = packer.resolve_dialect(args.dialect or project.dialect, project.packer_binary)
    out = output_folder(project.root, args.out)
    keep = [
        project.file,
        project.root / project.recipes_dir,
        project.root / ".git",
        *(project.root / used for name in names for used in catalog.recipes[name].used_files),
    ]
    labels = {name: (Path(args.out) / name).as_posix() for name in names}  # as the user wrote it
    for name in names:  # refuse before writing any
        check_folder(out / name, keep, labels[name])
    results = []
    for name in names:
        rendered = render(
            catalog.recipes[name],
            project.tags,
            dialect,
            lambda path: (project.root / path).read_bytes(),
        )
        template = write(rendered, out / name, keep, labels[name])
        if args.validate:
            packer.fmt_check(project.packer_binary, template)
            packer.validate(
                project.packer_binary, template, validation_variables(catalog.recipes[name])
            )
        results.append(
            {
                "recipe": name,
                "template": project.relative(template),
                "template_sha256": rendered.template_sha256,
                "content_digest": rendered.digest,
                "dialect": dialect,
                "validated": bool(args.validate),
            }
        )
        if not args.json:
            checked = " (fmt and validate ok)" if args.validate else ""
            print(f"{name}: {project.relative(template)}{checked}")
    if args.json:
        print_json(results)
    return 0


def validation_variables(recipe: Recipe) -> dict[str, str]:
    """Values for every variable of a recipe's template, so `packer validate` can check it."""
    moment = datetime(2000, 1, 1, tzinfo=UTC)
    facts = build_facts(moment, packer.PLACEHOLDER_VARIABLES["build_id"], "ami-0123456789abcdef0")
    return {**packer.PLACEHOLDER_VARIABLES, **fill_computed(recipe, facts, moment)}
