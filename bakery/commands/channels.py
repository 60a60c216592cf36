"""`bakery channels [NAME]`: what each channel points to, as recorded and as AWS says."""

from __future__ import annotations

import argparse

from bakery.commands import gateway_of, print_json, project_of, store_of
from bakery.config.catalog import load_catalog


def run(args: argparse.Namespace) -> int:
    from bakery.lifecycle.channels import channel_table

    project = project_of(args)
    recipes = [args.name] if args.name else sorted(load_catalog(project).recipes)
    gateway = gateway_of(args, project)
    with store_of(project, args, read_only=True) as store:
        rows = channel_table(gateway, store, project, recipes)
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("no channel points to any image yet; see `bakery promote`")
        return 0
    table = [("RECIPE", "CHANNEL", "VERSION", "BUILD", "IMAGES", "SINCE", "NOTE")]
    for row in rows:
        images = row["images"]
        assert isinstance(images, dict)
        note = "REVOKED " if row["revoked"] else ""
        note += "drift: AWS holds another image " if row["drift"] else ""
        note += "" if row["action"] == "promote" else f"({row['action']})"
        table.append(
            (
                str(row["recipe"]),
                str(row["channel"]),
                str(row["version"]),
                str(row["build_id"]),
                " ".join(f"{r}:{a}" for r, a in sorted(images.items())),
                str(row["at"]),
                note.strip(),
            )
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    return 0
