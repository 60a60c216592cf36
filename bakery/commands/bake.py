"""`bakery bake [NAME...] [--all] [--jobs N] [--force] [--dry-run]`."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict
from types import FrameType

from bakery.aws.build_images import AwsBuildImages
from bakery.aws.session import AwsSettings, Gateway
from bakery.bake.runner import BakeContext, Outcome, PlannedRecipe, execute, plan
from bakery.commands import aws_settings, packer_env, print_json, project_of, store_of
from bakery.config.catalog import Catalog, load_catalog
from bakery.config.git import git_state
from bakery.errors import UsageError
from bakery.lineage.records import BuildRecord, iso_utc
from bakery.lineage.store import LineageStore
from bakery.packer import binary as packer
from bakery.ui.progress import Progress, for_stream, format_duration

EXIT_CANCELLED = 130


def run(args: argparse.Namespace) -> int:
    project = project_of(args)
    catalog = load_catalog(project)
    if not args.names and not args.all:
        raise UsageError("name the recipes to bake, or use --all")
    names = catalog.select([] if args.all else args.names)
    settings = aws_settings(args, project)
    progress = for_stream(sys.stderr)
    with store_of(project, args) as store:
        ctx = bake_context(catalog, settings, store, progress)
        planned = plan(ctx, names, args.force)
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


def bake_context(
    catalog: Catalog, settings: AwsSettings, store: LineageStore, progress: Progress
) -> BakeContext:
    """Make what a bake needs; builds left running by a dead process become abandoned."""
    project = catalog.project
    found = packer.version(project.packer_binary)
    dialect = packer.dialect_of(found) if project.dialect == "auto" else project.dialect
    for record in store.mark_abandoned(_alive, iso_utc()):
        progress.note(
            f"{record.recipe}: build {record.build_id} was left running by a "
            "process that is gone; marked abandoned"
        )
    return BakeContext(
        catalog=catalog,
        images=AwsBuildImages(Gateway(settings)),
        store=store,
        progress=progress,
        dialect=dialect,
        packer_version=".".join(map(str, found)),
        git=git_state(project.root),
        local=settings.local,
        endpoint_url=settings.endpoint_url,
        packer_env=packer_env(settings),
    )


def run_builds(ctx: BakeContext, planned: Sequence[PlannedRecipe], jobs: int) -> list[Outcome]:
    """Execute a plan; Ctrl-C asks running builds to clean up instead of killing them."""
    restore = _forward_interrupts(ctx.cancel, ctx.progress)
    try:
        return execute(ctx, planned, jobs)
    finally:
        restore()
        ctx.progress.close()


def _alive(record: BuildRecord) -> bool:
    import os
    import socket

    if record.host != socket.gethostname() or record.pid is None:
        return True  # another machine's build: not ours to judge
    try:
        os.kill(record.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _forward_interrupts(cancel: threading.Event, progress: Progress) -> Callable[[], object]:
    """On Ctrl-C, ask every running Packer to clean up instead of dying at once."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: FrameType | None) -> None:
        if not cancel.is_set():
            cancel.set()
            progress.note(
                "interrupted: asking running builds to clean up (their instances, key pairs "
                "and security groups); waiting for them"
            )

    previous = signal.signal(signal.SIGINT, handler)
    return lambda: signal.signal(signal.SIGINT, previous)


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
