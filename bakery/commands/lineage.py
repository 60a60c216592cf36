"""`bakery lineage NAME|AMI-ID|BUILD-ID [--format tree|json|mermaid|dot]`."""

from __future__ import annotations

import argparse

from bakery.commands import names_of, project_of, store_of, warn
from bakery.lineage.queries import lineage_view, resolve_ref


def run(args: argparse.Namespace) -> int:
    project = project_of(args)
    # A family's name (or FAMILY[param=value]) shows the lineage of each of its instances.
    refs = names_of(project, args.ref) if not args.ref.startswith(("ami-", "0")) else [args.ref]
    with store_of(project, args, read_only=True) as store:
        for ref in refs:
            record = resolve_ref(store, ref, warn)
            print(lineage_view(store, record, "json" if args.json else args.format))
    return 0
