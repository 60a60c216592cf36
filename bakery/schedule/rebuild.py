"""`rebuild --stale` as a use case: plan what is stale, bake it, promote what succeeded, notify.

The run's report (`payload`) is plain data: it goes to the notification targets of bakery.yaml and,
through `report`, to whoever asked (the command prints it as JSON).
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any, TextIO

from bakery.aws.session import AwsSettings, Gateway
from bakery.bake.bake_plan import plan_bake
from bakery.bake.build_one import Outcome
from bakery.bake.context import make_context
from bakery.bake.execute import run_builds
from bakery.config.catalog import Catalog
from bakery.errors import EXIT_CANCELLED, BakeryError
from bakery.lineage.records import iso_utc
from bakery.lineage.store import LineageStore
from bakery.schedule.rebuild_plan import plan_stale, print_rebuild_plan
from bakery.ui.progress import Progress

Report = Callable[[dict[str, Any]], None]


def rebuild_stale(
    catalog: Catalog,
    settings: AwsSettings,
    store: LineageStore,
    *,
    names: Sequence[str],
    promote_to: str | None,
    jobs: int | None,
    run_id: str,
    log: str,
    out: TextIO,
    progress: Progress,
    report: Report,
) -> int:
    """Rebuild what is stale among `names` (all when empty); return the exit code."""
    project = catalog.project
    gateway = Gateway(settings)
    payload: dict[str, Any] = {
        "command": "rebuild",
        "run_id": run_id,
        "host": socket.gethostname(),
        "started_at": iso_utc(),
        "log": log,
    }

    def finish(code: int) -> int:
        return _finish(payload, catalog, gateway, out, code, report)

    try:
        result, _ = plan_stale(catalog, store, gateway, names)
        print_rebuild_plan(result, None, stream=out)
        payload["stale"] = [
            {"recipe": e.recipe, "reasons": list(e.reasons)} for e in result.entries if e.stale
        ]
        if result.problems:
            payload["result"] = "failed"
            payload["problems"] = list(result.problems)
            return finish(1)
        if not result.order:
            payload["result"] = "nothing to do"
            print("nothing is stale", file=out)
            return finish(0)
        ctx = make_context(catalog, settings, store, progress)
        planned = plan_bake(ctx, list(result.order), True)
        outcomes = run_builds(ctx, planned, jobs or project.bake.jobs)
        payload["builds"] = [asdict(outcome) for outcome in outcomes]
        if promote_to and not ctx.cancel.is_set():
            _promote(promote_to, outcomes, gateway, store, catalog, payload, out)
    except BakeryError as error:
        payload["result"] = "failed"
        payload["problems"] = [str(error)]
        finish(1)
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
    return finish(EXIT_CANCELLED if ctx.cancel.is_set() else (1 if failed else 0))


def _promote(
    channel: str,
    outcomes: Sequence[Outcome],
    gateway: Gateway,
    store: LineageStore,
    catalog: Catalog,
    payload: dict[str, Any],
    out: TextIO,
) -> None:
    from bakery.lifecycle.channels import promote

    project = catalog.project
    payload["promoted"], payload["not_promoted"] = [], []
    for outcome in outcomes:
        if outcome.result != "succeeded" or outcome.build_id is None:
            continue
        record = store.get(outcome.build_id)
        if record is None:  # the bake just recorded it; a store that lost it is reported
            payload["not_promoted"].append(
                {"recipe": outcome.recipe, "channel": channel, "reason": "no record of the build"}
            )
            continue
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
    catalog: Catalog,
    gateway: Gateway,
    out: TextIO,
    code: int,
    report: Report,
) -> int:
    from bakery.schedule.notify import notify

    project = catalog.project
    payload["ended_at"] = iso_utc()
    payload["exit_code"] = code
    problems = notify(
        payload, webhook=project.notify_webhook, sns_topic=project.notify_sns_topic, gateway=gateway
    )
    for problem in problems:
        print(f"bakery: warning: notification not delivered: {problem}", file=sys.stderr)
    report(payload)
    print(f"run {payload['run_id']}: {payload.get('result')} (log: {payload['log']})", file=out)
    return code
