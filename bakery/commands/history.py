"""`bakery history NAME`: the builds of a recipe (or of a family's instances), newest first."""

from __future__ import annotations

import argparse

from bakery.commands import names_of, print_json, project_of, store_of
from bakery.config.paths import shown
from bakery.lineage.queries import history_rows
from bakery.ui.progress import format_duration

NAMES_SHOWN = 3  # of the files a build downloaded, in its row


def run(args: argparse.Namespace) -> int:
    project = project_of(args)
    names = names_of(project, args.name)
    with store_of(project, args, read_only=True) as store:
        rows = [
            {"recipe": name, **row} if len(names) > 1 else row
            for name in names
            for row in history_rows(store, name)
        ]
    if len(names) > 1:  # a family's instances, newest first across them
        rows.sort(key=lambda row: str(row["started_at"]), reverse=True)
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print(f"no builds of {args.name} recorded")
        return 0
    many = len(names) > 1
    table = [(*(("RECIPE",) if many else ()), "BUILD", "VERSION", "STATUS", "STARTED", "TIME",
              "IMAGES", "DOWNLOADED")]  # fmt: skip
    for row in rows:
        seconds = row.get("duration_s")
        images = row.get("amis") or {}
        table.append(
            (
                *((str(row["recipe"]),) if many else ()),
                str(row["build_id"]),
                str(row["version"]),
                str(row["status"]) + (" (revoked)" if row.get("revoked") else ""),
                str(row["started_at"]),
                format_duration(seconds) if seconds is not None else "-",
                " ".join(f"{region}:{ami}" for region, ami in sorted(images.items())) or "-",
                _downloaded([str(artifact["name"]) for artifact in row.get("artifacts") or ()]),
            )
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    return 0


def _downloaded(names: list[str]) -> str:
    """How many files a build downloaded, with the first few names (escaped for a terminal)."""
    if not names:
        return "-"
    listed = ", ".join(shown(name) for name in names[:NAMES_SHOWN])
    more = ", ..." if len(names) > NAMES_SHOWN else ""
    return f"{len(names)} ({listed}{more})"
