"""`bakery rebuild --stale [NAME...] [--promote CHANNEL] [--jobs N]`: unattended rebuilds."""

from __future__ import annotations

import argparse
import socket
import sys
from dataclasses import asdict
from typing import Any, TextIO, cast

from bakery.aws.session import Gateway
from bakery.bake.runner import Outcome, plan
from bakery.commands import aws_settings, print_json, project_of, store_of
from bakery.commands.bake import EXIT_CANCELLED, bake_context, run_builds
from bakery.commands.plan import compute_plan, print_plan
from bakery.config.catalog import load_catalog
from bakery.errors import BakeryError, UsageError
from bakery.lineage.records import iso_utc, new_build_id
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
    catalog = load_catalog(project)
    run_id = new_build_id()
    started = iso_utc()
    log_path = project.root / ".bakery" / "logs" / f"run-{run_id}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    settings = aws_settings(args, project)
    gateway = Gateway(settings)
    payload: dict[str, Any] = {
        "command": "rebuild",
        "run_id": run_id,
        "host": socket.gethostname(),
        "started_at": started,
        "log": str(log_path.relative_to(project.root)),
    }
    with log_path.open("a", encoding="utf-8") as log, store_of(project, args) as store:
        out = _Tee(sys.stderr if args.json else sys.stdout, log)  # stdout: the JSON only
        # the run log gets the timestamped lines; a terminal gets the live view
        progress = (
            for_stream() if sys.stderr.isatty() else Progress(cast(TextIO, _Tee(sys.stderr, log)))
        )
        try:
            result, _ = compute_plan(args, project, catalog, store, gateway)
            print_plan(result, None, stream=out)
            payload["stale"] = [
                {"recipe": e.recipe, "reasons": list(e.reasons)} for e in result.entries if e.stale
            ]
            if result.problems:
                payload["result"] = "failed"
                payload["problems"] = list(result.problems)
                return _finish(payload, project, gateway, out, 1, as_json=args.json)
            if not result.order:
                payload["result"] = "nothing to do"
                print("nothing is stale", file=out)
                return _finish(payload, project, gateway, out, 0, as_json=args.json)
            ctx = bake_context(catalog, settings, store, progress)
            planned = plan(ctx, list(result.order), True)
            outcomes = run_builds(ctx, planned, args.jobs or project.bake.jobs)
            payload["builds"] = [asdict(outcome) for outcome in outcomes]
            if args.promote and not ctx.cancel.is_set():
                _promote(args.promote, outcomes, gateway, store, project, payload, out)
        except BakeryError as error:
            payload["result"] = "failed"
            payload["problems"] = [str(error)]
            _finish(payload, project, gateway, out, 1, as_json=args.json)
            raise
        failed = not all(outcome.ok for outcome in outcomes)
        payload["result"] = (
            "cancelled" if ctx.cancel.is_set() else ("failed" if failed else "succeeded")
        )
        for outcome in outcomes:
            print(
                f"{outcome.recipe:<24} {outcome.result:<10} "
                f"{' '.join(f'{r}:{a}' for r, a in sorted(outcome.images.items()))} "
                f"{outcome.detail}".rstrip(),
                file=out,
            )
        code = EXIT_CANCELLED if ctx.cancel.is_set() else (1 if failed else 0)
        return _finish(payload, project, gateway, out, code, as_json=args.json)


def _promote(
    channel: str,
    outcomes: list[Outcome],
    gateway: Gateway,
    store: Any,
    project: Any,
    payload: dict[str, Any],
    out: Any,
) -> None:
    from bakery.lifecycle.channels import promote

    payload["promoted"], payload["not_promoted"] = [], []
    for outcome in outcomes:
        if outcome.result != "succeeded" or outcome.build_id is None:
            continue
        record = store.get(outcome.build_id)
        try:
            promote(
                gateway,
                store,
                project,
                record,
                channel,
                lambda account: gateway.assume(account, project.role_arns),
            )
        except BakeryError as error:
            payload["not_promoted"].append(
                {"recipe": outcome.recipe, "channel": channel, "reason": str(error)}
            )
            print(f"{outcome.recipe}: not promoted to {channel}: {error}", file=out)
            continue
        payload["promoted"].append(
            {"recipe": outcome.recipe, "channel": channel, "build_id": outcome.build_id}
        )
        print(f"{outcome.recipe}: promoted {outcome.build_id} to {channel}", file=out)


def _finish(
    payload: dict[str, Any],
    project: Any,
    gateway: Gateway,
    out: Any,
    code: int,
    *,
    as_json: bool = False,
) -> int:
    from bakery.schedule.notify import notify

    payload["ended_at"] = iso_utc()
    payload["exit_code"] = code
    problems = notify(
        payload, webhook=project.notify_webhook, sns_topic=project.notify_sns_topic, gateway=gateway
    )
    for problem in problems:
        print(f"bakery: warning: notification not delivered: {problem}", file=sys.stderr)
    if as_json:
        print_json(payload)
    print(f"run {payload['run_id']}: {payload.get('result')} (log: {payload['log']})", file=out)
    return code
