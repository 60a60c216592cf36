"""`bakery revoke REF --reason TEXT [--cascade] [--keep-shares]`."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from bakery.commands import gateway_of, print_json, project_of, warn, writable_store_of
from bakery.errors import UsageError


def run(args: argparse.Namespace) -> int:
    from bakery.lifecycle.channels import revoke
    from bakery.lifecycle.gates import revoke_reason_problem
    from bakery.lifecycle.refs import resolve_image_ref

    problem = revoke_reason_problem(args.reason)
    if problem:
        raise UsageError(problem)
    project = project_of(args)
    gateway = gateway_of(args, project)
    with writable_store_of(project, args) as store:
        record = resolve_image_ref(store, args.ref, warn)
        result = revoke(
            gateway,
            store,
            project,
            record,
            args.reason,
            cascade=args.cascade,
            keep_shares=args.keep_shares,
            accounts=lambda account: gateway.assume(account, project.role_arns),
        )
    if args.json:
        print_json(asdict(result))
        return 0
    print(
        f"revoked {len(result.revoked)} build{'s' if len(result.revoked) != 1 else ''}: "
        f"{', '.join(result.revoked)}"
    )
    for promotion in result.moved:
        print(
            f"channel {promotion.channel} of {promotion.recipe} moved back to {promotion.build_id}"
        )
    for build_id, lost in result.unshared.items():
        print(f"unshared {build_id} from {', '.join(lost)}")
    for text in (*result.stuck, *result.notes):
        print(f"note: {text}")
    return 0
