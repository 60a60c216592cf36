"""`bakery provenance BUILD-ID|AMI-ID`: an in-toto statement with a SLSA provenance predicate."""

from __future__ import annotations

import argparse
import json

from bakery import __version__
from bakery.commands import print_json, project_of, store_of, warn
from bakery.errors import BakeryError
from bakery.lineage.provenance import provenance_statement
from bakery.lineage.queries import resolve_ref


def run(args: argparse.Namespace) -> int:
    project = project_of(args)
    with store_of(project, args, read_only=True) as store:
        record = resolve_ref(store, args.ref, warn)
    inputs = project.root / ".bakery" / "builds" / record.build_id / "inputs.json"
    try:
        files = json.loads(inputs.read_text())["files"]
    except (OSError, ValueError, KeyError) as error:
        raise BakeryError(
            f"build {record.build_id}: the file digests recorded at build time "
            f"({project.relative(inputs)}) are missing; provenance needs the build's own "
            "folder (builds imported from AWS have none)"
        ) from error
    print_json(provenance_statement(record, files, __version__))
    return 0
