"""`bakery revoke REF --reason TEXT [--cascade]`."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from bakery.commands import gateway_of, print_json, project_of, store_of


def run(args: argparse.Namespace) -> int:
    from bakery.lifecycle.channels import revoke
    from bakery.lifecycle.refs import resolve_image_ref

    project = project_of(args)
    gateway = gateway_of(args, project)
    with store_of(project, args) as store:
        record = resolve_image_ref(store, args.ref)
        result = revoke(
            gateway,
            store,
            project,
            record,
            args.reason,
            cascade=args.cascade,
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
    for text in (*result.stuck, *result.notes):
        print(f"note: {text}")
    return 0
