"""`bakery rebuild --stale [NAME...] [--promote CHANNEL] [--jobs N]`: unattended rebuilds."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO, cast

from bakery.commands import aws_settings, catalog_of, print_json, project_of, writable_store_of
from bakery.errors import UsageError
from bakery.lineage.records import new_build_id
from bakery.schedule.rebuild import rebuild_stale
from bakery.ui.progress import Progress, for_stream


class _Tee:
    """A text stream writing to a terminal (or pipe) and to the run's log at once."""

    def __init__(self, first: TextIO, log: TextIO) -> None:
        self.first, self.log = first, log

    def write(self, text: str) -> int:
        self.log.write(text)
        return self.first.write(text)

    def flush(self) -> None:
        self.first.flush()
        self.log.flush()

    def isatty(self) -> bool:
        return self.first.isatty()


def run(args: argparse.Namespace) -> int:
    if not args.stale:
        raise UsageError("rebuild needs --stale: it rebuilds what `bakery plan` finds stale")
    project = project_of(args)
    if args.promote is not None:
        from bakery.lifecycle.channels import channel_of

        channel_of(project, args.promote)  # an unknown channel is refused before any build
    catalog = catalog_of(project, args)
    run_id = new_build_id()
    log_path = project.root / ".bakery" / "logs" / f"run-{run_id}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)

    def report(payload: dict[str, Any]) -> None:
        if args.json:
            print_json(payload)

    with log_path.open("a", encoding="utf-8") as log, writable_store_of(project, args) as store:
        out = _Tee(sys.stderr if args.json else sys.stdout, log)  # stdout: the JSON only
        # the run log gets the timestamped lines; a terminal gets the live view
        progress = (
            for_stream() if sys.stderr.isatty() else Progress(cast(TextIO, _Tee(sys.stderr, log)))
        )
        return rebuild_stale(
            catalog,
            aws_settings(args, project),
            store,
            names=list(args.names or []),
            promote_to=args.promote,
            jobs=args.jobs,
            run_id=run_id,
            log=str(log_path.relative_to(project.root)),
            out=cast(TextIO, out),
            progress=progress,
            report=report,
        )
