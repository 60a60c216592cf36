"""`bakery render [NAME...]`: write one build folder per recipe."""

from __future__ import annotations

import argparse
from pathlib import Path

from bakery.commands import catalog_of, print_json, project_of
from bakery.packer import binary as packer
from bakery.render.build_folder import check_folder, output_folder, render, write


def run(args: argparse.Namespace) -> int:
    project = project_of(args)
    catalog = catalog_of(project)
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
            packer.validate(project.packer_binary, template)
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
