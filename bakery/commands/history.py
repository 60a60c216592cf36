"""`bakery history NAME`: the builds of a recipe, newest first."""

from __future__ import annotations

import argparse

from bakery.commands import print_json, project_of, store_of
from bakery.lineage.queries import history_rows
from bakery.ui.progress import format_duration


def run(args: argparse.Namespace) -> int:
    project = project_of(args)
    with store_of(project, args, read_only=True) as store:
        rows = history_rows(store, args.name)
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print(f"no builds of {args.name} recorded")
        return 0
    table = [("BUILD", "VERSION", "STATUS", "STARTED", "TIME", "IMAGES")]
    for row in rows:
        seconds = row.get("duration_s")
        images = row.get("amis") or {}
        table.append(
            (
                str(row["build_id"]),
                str(row["version"]),
                str(row["status"]) + (" (revoked)" if row.get("revoked") else ""),
                str(row["started_at"]),
                format_duration(seconds) if seconds is not None else "-",
                " ".join(f"{region}:{ami}" for region, ami in sorted(images.items())) or "-",
            )
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    return 0
