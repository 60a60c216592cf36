"""`bakery plan [NAME...] [--json]`: say which images are stale and why; change nothing."""

from __future__ import annotations

import argparse

from bakery.commands import catalog_of, gateway_of, print_json, project_of, store_of
from bakery.schedule.rebuild_plan import plan_as_json, plan_stale, print_rebuild_plan

EXIT_UP_TO_DATE = 0
EXIT_FAILED = 1  # a source could not be resolved (or any other error)
EXIT_STALE = 10  # something would be rebuilt


def run(args: argparse.Namespace) -> int:
    """Assess the named recipes (all by default) and their descendants; return the exit code."""
    project = project_of(args)
    catalog = catalog_of(project, args)
    gateway = gateway_of(args, project)
    with store_of(project, args, read_only=True) as store:
        result, calls = plan_stale(catalog, store, gateway, args.names or [])
    if args.json:
        print_json(plan_as_json(result, calls))
    else:
        print_rebuild_plan(result, calls)
    if result.problems:
        return EXIT_FAILED
    return EXIT_STALE if result.stale else EXIT_UP_TO_DATE
