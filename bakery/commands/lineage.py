"""`bakery lineage NAME|AMI-ID|BUILD-ID [--format tree|json|mermaid|dot]`."""

from __future__ import annotations

import argparse

from bakery.commands import project_of, store_of, warn
from bakery.lineage.queries import lineage_view, resolve_ref


def run(args: argparse.Namespace) -> int:
    project = project_of(args)
    with store_of(project, args, read_only=True) as store:
        record = resolve_ref(store, args.ref, warn)
        print(lineage_view(store, record, "json" if args.json else args.format))
    return 0
