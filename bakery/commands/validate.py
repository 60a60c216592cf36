"""`bakery validate [PATH...]`."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

from bakery.commands import given_of, print_json, project_of
from bakery.config.catalog import load_catalog
from bakery.errors import InvalidInputError


def run(args: argparse.Namespace) -> int:
    project = project_of(args)
    try:
        catalog = load_catalog(
            project, [Path(path) for path in args.paths], given=given_of(project, args)
        )
    except InvalidInputError as error:
        if not args.json:
            raise
        print_json({"valid": False, "problems": [asdict(p) for p in error.problems]})
        return error.exit_code
    names = sorted(catalog.recipes)
    if args.json:
        warnings = [asdict(p) for p in catalog.warnings]
        print_json({"valid": True, "recipes": names, "problems": warnings})
        return 0
    for warning in catalog.warnings:
        print(warning, file=sys.stderr)
    if catalog.warnings:
        count = len(catalog.warnings)
        print(
            f"bakery: {count} warning{'s' if count != 1 else ''} (not errors); `bakery rules` "
            "says what each code means and how bakery.yaml can ignore it",
            file=sys.stderr,
        )
    print(f"{len(names)} recipe{'s' if len(names) != 1 else ''} valid: {', '.join(names)}")
    return 0
