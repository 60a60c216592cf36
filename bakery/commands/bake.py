"""`bakery bake [NAME...] [--all] [--jobs N] [--force] [--dry-run]`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import asdict

from bakery.bake.bake_plan import PlannedRecipe, plan_bake
from bakery.bake.build_one import Outcome
from bakery.bake.context import make_context
from bakery.bake.execute import run_builds
from bakery.commands import aws_settings, catalog_of, print_json, project_of, writable_store_of
from bakery.errors import EXIT_CANCELLED, UsageError
from bakery.ui.progress import for_stream, format_duration


def run(args: argparse.Namespace) -> int:
    project = project_of(args)
    catalog = catalog_of(project, args)
    if not args.names and not args.all:
        raise UsageError("name the recipes to bake, or use --all")
    names = catalog.select([] if args.all else args.names)
    settings = aws_settings(args, project)
    progress = for_stream(sys.stderr)
    with writable_store_of(project, args) as store:
        ctx = make_context(catalog, settings, store, progress)
        planned = plan_bake(ctx, names, args.force)
        if args.dry_run or not args.json:
            _print_plan(planned, dry_run=args.dry_run)
        if args.dry_run:
            if args.json:
                print_json(
                    [
                        {
                            "recipe": p.decision.recipe,
                            "action": p.decision.action.value,
                            "reason": p.decision.reason,
                        }
                        for p in planned
                    ]
                )
            return 0
        outcomes = run_builds(ctx, planned, args.jobs or project.bake.jobs)
    if args.json:
        print_json([asdict(outcome) for outcome in outcomes])
    else:
        _print_summary(outcomes, settings.local)
    if ctx.cancel.is_set():
        return EXIT_CANCELLED
    return 0 if all(outcome.ok for outcome in outcomes) else 1


def _print_plan(planned: Sequence[PlannedRecipe], *, dry_run: bool) -> None:
    title = "would build" if dry_run else "plan"
    print(f"{title}:")
    for item in planned:
        decision = item.decision
        print(f"  {decision.action.value:<10} {decision.recipe:<24} {decision.reason}")
    sys.stdout.flush()


def _print_summary(outcomes: Sequence[Outcome], local: bool) -> None:
    rows = [("RECIPE", "VERSION", "RESULT", "IMAGES", "TIME")]
    for outcome in outcomes:
        images = " ".join(f"{region}:{ami}" for region, ami in sorted(outcome.images.items()))
        time = format_duration(outcome.seconds) if outcome.seconds else "-"
        rows.append((outcome.recipe, outcome.version, outcome.result, images or "-", time))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print()
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    for outcome in outcomes:
        if outcome.detail and not outcome.ok:
            print(f"{outcome.recipe}: {outcome.result}: {outcome.detail}")
    if local:
        print("(local mode: images are in the emulator; provisioners were checked, not run)")
