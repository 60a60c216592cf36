"""`bakery validate [PATH...]`."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from bakery.commands import print_json, project_of
from bakery.config.catalog import load_catalog
from bakery.errors import InvalidInputError


def run(args: argparse.Namespace) -> int:
    project = project_of(args)
    try:
        catalog = load_catalog(project, [Path(path) for path in args.paths])
    except InvalidInputError as error:
        if not args.json:
            raise
        print_json({"valid": False, "problems": [asdict(p) for p in error.problems]})
        return error.exit_code
    names = sorted(catalog.recipes)
    if args.json:
        print_json({"valid": True, "recipes": names, "problems": []})
    else:
        print(f"{len(names)} recipe{'s' if len(names) != 1 else ''} valid: {', '.join(names)}")
    return 0
